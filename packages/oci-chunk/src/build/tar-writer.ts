/**
 * Streaming tar writing on top of tar-stream's pack: entries are written one at a time, file data
 * is piped from disk in chunks with backpressure, never read whole.
 */
import { constants as fsConstants, createReadStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { UserError, fsProblem, isFsError } from '../util.ts';

/** fs.open takes numeric flags (the types only list strings). */
const READ_FLAGS = (fsConstants.O_RDONLY | fsConstants.O_NONBLOCK) as unknown as string;

export interface TarWriter {
  /** Adds an entry; `source` is a host file streamed as the entry's body (size must match the header). */
  add(header: HeaderArgument, source?: string | Buffer): Promise<void>;
  /** Finishes the archive and waits until every byte reached the destination streams. */
  finish(): Promise<void>;
}

export type HeaderArgument = Partial<tar.Header> & Pick<tar.Header, 'name'>;

/** `stages` receive the tar bytes in order (hashers, compressors, the file stream). */
export function createTarWriter(stages: NodeJS.ReadWriteStream[], destination: Writable): TarWriter {
  const pack = tar.pack();
  const done = pipeline([pack as unknown as NodeJS.ReadableStream, ...stages, destination]);
  // Keep a rejection from going unhandled while entries are still being added.
  done.catch(() => {});
  let failed: Error | undefined;
  done.catch((e: unknown) => {
    failed = e instanceof Error ? e : new Error(String(e));
  });

  const writeEntry = (header: HeaderArgument, source?: string | Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (failed) return reject(failed);
      if (source === undefined || Buffer.isBuffer(source)) {
        pack.entry(header, source ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
        return;
      }
      const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
      (async () => {
        // ReadStream allocates a buffer of highWaterMark bytes per read: sized to the file, small
        // files (most of an image) do not each cost 256 KiB of allocation.
        const size = header.size ?? 0;
        const highWaterMark = Math.max(1, Math.min(256 * 1024, size));
        // O_NONBLOCK: a source swapped for a FIFO fails instead of blocking; `end` bounds the read.
        let read = 0;
        try {
          for await (const chunk of createReadStream(source, { flags: READ_FLAGS, highWaterMark, end: Math.max(0, size - 1) })) {
            read += (chunk as Buffer).length;
            if (!sink.write(chunk as Buffer)) await once(sink as unknown as NodeJS.EventEmitter, 'drain');
          }
        } catch (e) {
          throw isFsError(e) ? new UserError(`${source}: cannot read: ${fsProblem(e)}`) : e;
        }
        if (read !== size) throw new UserError(`${source}: has ${read} bytes where ${size} were expected (changed while being read?)`);
        (sink as unknown as { end(): void }).end();
      })().catch((e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        sink.destroy(error);
        reject(error);
      });
    });

  return {
    async add(header, source) {
      // Abort promptly if the destination failed (disk full...), instead of waiting forever on it.
      await Promise.race([writeEntry(header, source), done.then(() => new Promise<void>(() => {}))]);
    },
    async finish() {
      pack.finalize();
      await done;
    },
  };
}
