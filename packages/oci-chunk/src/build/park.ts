/**
 * Data that reached the build before its turn (an input not in walk order): kept until the layers
 * that hold it get to it. Small pieces stay in memory within a budget; the rest goes to one scratch
 * file, appended and read back by position (never one file per entry).
 */
import { close, open, read, write } from 'node:fs';
import { UserError, fsProblem, releaseBuffer } from '../util.ts';
import type { LayerSink } from './sink.ts';

/** Parked bytes kept in memory at most, in all. */
const MEMORY_BUDGET = 16 * 1024 * 1024;
/** Larger entries always go to the file. */
const MEMORY_ENTRY_MAX = 1024 * 1024;
const COPY_BYTES = 256 * 1024;

export interface Parked {
  /** In memory, or undefined when in the file at `offset`. */
  buffer: Buffer | undefined;
  offset: number;
  size: number;
  /** Destinations still to copy it. */
  refs: number;
}

export interface ParkWriter {
  append(piece: Buffer): Promise<void>;
  end(): Parked;
}

export class ParkStore {
  readonly #path: string;
  #fd: number | undefined;
  #fileBytes = 0;
  #memory = 0;
  #copyBuffer: Buffer | undefined;

  constructor(path: string) {
    this.#path = path;
  }

  /** Bytes parked in memory now. */
  get memoryBytes(): number {
    return this.#memory;
  }

  begin(size: number, refs: number): ParkWriter {
    if (size <= MEMORY_ENTRY_MAX && this.#memory + size <= MEMORY_BUDGET) {
      this.#memory += size;
      const buffer = Buffer.allocUnsafeSlow(size);
      let at = 0;
      return {
        append: (piece) => {
          at += piece.copy(buffer, at);
          return Promise.resolve();
        },
        end: () => ({ buffer, offset: 0, size, refs }),
      };
    }
    const offset = this.#fileBytes;
    this.#fileBytes += size;
    let at = offset;
    return {
      append: async (piece) => {
        await this.#write(piece, at);
        at += piece.length;
      },
      end: () => ({ buffer: undefined, offset, size, refs }),
    };
  }

  async #file(): Promise<number> {
    this.#fd ??= await new Promise<number>((resolve, reject) =>
      open(this.#path, 'wx+', (e, fd) =>
        e ? reject(new UserError(`${this.#path}: cannot create scratch file: ${fsProblem(e)}`)) : resolve(fd),
      ),
    );
    return this.#fd;
  }

  async #write(data: Buffer, position: number): Promise<void> {
    const fd = await this.#file();
    for (let done = 0; done < data.length;) {
      done += await new Promise<number>((resolve, reject) =>
        write(fd, data, done, data.length - done, position + done, (e, n) =>
          e ? reject(new UserError(`${this.#path}: cannot write scratch file: ${fsProblem(e)}`)) : resolve(n),
        ),
      );
    }
  }

  /** Writes the parked bytes into `sink`; the last destination frees them. */
  async copyTo(parked: Parked, sink: LayerSink): Promise<void> {
    if (parked.buffer) {
      const waiting = sink.write(parked.buffer);
      if (waiting) await waiting;
    } else {
      const fd = await this.#file();
      const buffer = (this.#copyBuffer ??= Buffer.allocUnsafeSlow(COPY_BYTES));
      for (let done = 0; done < parked.size;) {
        const want = Math.min(COPY_BYTES, parked.size - done);
        const n = await new Promise<number>((resolve, reject) =>
          read(fd, buffer, 0, want, parked.offset + done, (e, got) =>
            e ? reject(new UserError(`${this.#path}: cannot read scratch file: ${fsProblem(e)}`)) : resolve(got),
          ),
        );
        if (n === 0) throw new UserError(`${this.#path}: scratch file is shorter than was written`);
        const waiting = sink.write(buffer.subarray(0, n));
        if (waiting) await waiting;
        done += n;
      }
    }
    if (--parked.refs === 0 && parked.buffer) {
      this.#memory -= parked.size;
      releaseBuffer(parked.buffer);
      parked.buffer = undefined;
    }
  }

  async close(): Promise<void> {
    if (this.#copyBuffer) releaseBuffer(this.#copyBuffer);
    this.#copyBuffer = undefined;
    const fd = this.#fd;
    this.#fd = undefined;
    if (fd !== undefined) await new Promise<void>((resolve) => close(fd, () => resolve()));
  }
}
