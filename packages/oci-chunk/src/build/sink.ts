/**
 * Where one output layer's tar goes: through the sha256 of the tar (the diff_id), optionally
 * compressed, through the sha256 of the blob, into a file. Bytes are copied into blocks; a full
 * block is written (plain tar) or compressed on libuv's thread pool while the caller goes on, so
 * that compression uses every core: blocks of one layer and of different layers are compressed at
 * the same time, up to a shared limit of blocks in flight.
 *
 * gzip output is one gzip member whose deflate stream is made of independently compressed blocks,
 * each primed with the 32 KiB before it as its dictionary and ended by a sync flush (pigz's
 * method): any gunzip reads it as one stream, and the bytes depend only on the tar and the level,
 * not on timing. zstd output is one frame per block (readers decode concatenated frames).
 */
import { createHash, type Hash } from 'node:crypto';
import { close, open, writeSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { UserError, fsProblem, releaseArrayBuffer, releaseBuffer } from '../util.ts';
import { END_OF_TAR, headerSize, padding, writeHeader, type EntryHeader } from './tar-format.ts';

export type Compression = 'none' | 'gzip' | 'zstd';

export interface SinkOptions {
  compression: Compression;
  /** gzip 0-9 (default 6) or zstd 1-19 (default 3). */
  level?: number;
}

export interface SinkResult {
  /** sha256 of the uncompressed tar. */
  diffId: string;
  /** sha256 of the blob written. */
  digest: string;
  /** Bytes of the blob. */
  size: number;
}

/**
 * Bytes of tar compressed or written at once. Every open layer may hold a partly filled block (64
 * layers: 8 MiB at 128 KiB), so blocks are no larger than compression needs: a 32 KiB dictionary
 * costs little against 128 KiB (pigz's block size too), and zstd, without dictionaries, loses little
 * at 512 KiB. Boundaries depend only on the layer's own bytes: equal layers compress equally.
 */
const BLOCK_BYTES: Readonly<Record<Compression, number>> = { none: 128 * 1024, gzip: 128 * 1024, zstd: 512 * 1024 };
/** A layer's first block starts this small and doubles: most layers are small. */
const FIRST_BLOCK_BYTES = 16 * 1024;
/** deflate's window: the dictionary given to the next block. */
const WINDOW = 32 * 1024;
const ZEROS = Buffer.alloc(1024);
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);

/**
 * What all sinks of one build share: a limit on blocks being compressed or written (memory and
 * threads), and full-size block buffers for reuse.
 */
export class SinkShared {
  readonly #limit: number;
  #inFlight = 0;
  readonly #waiting: (() => void)[] = [];
  readonly #free = new Map<number, Buffer[]>();

  /** `limit`: blocks in flight at once (libuv runs 4 threads by default). */
  constructor(limit = 6) {
    this.#limit = limit;
  }

  async acquire(): Promise<void> {
    while (this.#inFlight >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#inFlight++;
  }

  release(): void {
    this.#inFlight--;
    this.#waiting.shift()?.();
  }

  buffer(size: number): Buffer {
    return this.#free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  recycle(buffer: Buffer): void {
    let list = this.#free.get(buffer.length);
    if (list === undefined) this.#free.set(buffer.length, (list = []));
    // Only as many as can be in use at once are worth keeping.
    if (list.length < this.#limit + 2) list.push(buffer);
    else releaseBuffer(buffer);
  }

  /** Frees the kept buffers (the build is over). */
  releaseAll(): void {
    for (const list of this.#free.values()) list.forEach(releaseBuffer);
    this.#free.clear();
  }
}

/** Compressed output of one block: chunks cut from the engine's output buffers, in order. */
type Output = Buffer[];

/** Runs one compression job on libuv's thread pool: `input` in, every output chunk out. */
function compress(engine: zlib.DeflateRaw | zlib.ZstdCompress, input: Buffer): Promise<Output> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    engine.on('data', (chunk: Buffer) => out.push(chunk));
    engine.once('error', reject);
    engine.once('end', () => resolve(out));
    engine.end(input);
  });
}

/** Output buffer size of a job: one or two buffers hold a block's output. */
const OUTPUT_CHUNK_BYTES = 64 * 1024;

function deflateBlock(input: Buffer, dictionary: Buffer | undefined, final: boolean, level: number): Promise<Output> {
  const engine = zlib.createDeflateRaw({
    level,
    dictionary,
    chunkSize: OUTPUT_CHUNK_BYTES,
    finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
  });
  return compress(engine, input);
}

function zstdBlock(input: Buffer, level: number): Promise<Output> {
  const z = zlib as Partial<typeof zlib>;
  if (!z.createZstdCompress) return Promise.reject(new UserError('this Node.js has no zstd support; cannot write zstd layers'));
  const engine = z.createZstdCompress({ chunkSize: 4 * OUTPUT_CHUNK_BYTES, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
  return compress(engine, input);
}

/** A block of tar bytes and the work still holding it (its own compression, the next block's dictionary). */
interface Block {
  buffer: Buffer;
  fill: number;
  holds: number;
}

export class LayerSink {
  readonly path: string;
  readonly #fd: number;
  readonly #compression: Compression;
  readonly #level: number;
  readonly #shared: SinkShared;
  readonly #blockBytes: number;
  readonly #tarHash: Hash = createHash('sha256');
  readonly #blobHash: Hash;
  #crc = 0;
  #tarBytes = 0;
  /** Blob bytes handed to the file so far (positions of the next write). */
  #blobBytes = 0;
  #block: Buffer;
  #fill = 0;
  /** The previous gzip block, kept for the next one's dictionary. */
  #previous: Block | undefined;
  /** Compressed output is written in order: each block's output waits for the one before. */
  #tail: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #scratch = Buffer.allocUnsafe(512);
  #closed = false;

  private constructor(path: string, fd: number, options: SinkOptions, shared: SinkShared) {
    this.path = path;
    this.#fd = fd;
    this.#compression = options.compression;
    this.#level = options.level ?? (options.compression === 'zstd' ? 3 : 6);
    this.#shared = shared;
    this.#blockBytes = BLOCK_BYTES[options.compression];
    this.#blobHash = options.compression === 'none' ? this.#tarHash : createHash('sha256');
    this.#block = Buffer.allocUnsafeSlow(Math.min(FIRST_BLOCK_BYTES, this.#blockBytes));
  }

  /** Creates the file at `path` (it must not exist). */
  static async create(path: string, options: SinkOptions, shared: SinkShared): Promise<LayerSink> {
    const fd = await new Promise<number>((resolve, reject) => open(path, 'wx', (e, n) => (e ? reject(e) : resolve(n))));
    const sink = new LayerSink(path, fd, options, shared);
    if (options.compression === 'gzip') sink.#output(GZIP_HEADER);
    return sink;
  }

  /** Bytes of tar so far. */
  get tarBytes(): number {
    return this.#tarBytes;
  }

  /** Adds `bytes` to the tar (copied); a returned promise must be awaited before the next call. */
  write(bytes: Uint8Array): Promise<void> | undefined {
    if (this.#failure) throw this.#failure;
    this.#tarHash.update(bytes);
    if (this.#compression === 'gzip') this.#crc = zlib.crc32(bytes, this.#crc);
    this.#tarBytes += bytes.length;
    return this.#copy(bytes, 0);
  }

  #copy(bytes: Uint8Array, from: number): Promise<void> | undefined {
    let at = from;
    while (at < bytes.length) {
      if (this.#fill === this.#block.length && !this.#grow()) return this.#flush(false).then(() => this.#copy(bytes, at));
      const n = Math.min(bytes.length - at, this.#block.length - this.#fill);
      this.#block.set(bytes.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
    }
    return undefined;
  }

  /** Doubles a block below full size; false when it is full size. */
  #grow(): boolean {
    if (this.#block.length >= this.#blockBytes) return false;
    const size = Math.min(this.#block.length * 2, this.#blockBytes);
    const bigger = size === this.#blockBytes ? this.#shared.buffer(size) : Buffer.allocUnsafeSlow(size);
    this.#block.copy(bigger, 0, 0, this.#fill);
    releaseBuffer(this.#block);
    this.#block = bigger;
    return true;
  }

  /** An entry's header (with its PAX header, if any). */
  header(h: EntryHeader): Promise<void> | undefined {
    const { bytes, pax } = headerSize(h);
    if (this.#scratch.length < bytes) this.#scratch = Buffer.allocUnsafe(bytes);
    writeHeader(this.#scratch, 0, h, pax);
    return this.write(this.#scratch.subarray(0, bytes));
  }

  /** The zeros after `size` bytes of data. */
  pad(size: number): Promise<void> | undefined {
    const n = padding(size);
    return n === 0 ? undefined : this.write(ZEROS.subarray(0, n));
  }

  /** Sends the current block on; first waits for room when as many blocks as allowed are in flight. */
  async #flush(final: boolean): Promise<void> {
    await this.#shared.acquire();
    const block: Block = { buffer: this.#block, fill: this.#fill, holds: 1 };
    this.#block = final ? Buffer.alloc(0) : this.#shared.buffer(this.#blockBytes);
    this.#fill = 0;
    const input = block.buffer.subarray(0, block.fill);
    /** The block whose end is this one's dictionary: held until this job has ended. */
    const dictionaryBlock = this.#compression === 'gzip' ? this.#previous : undefined;
    const done = (): void => {
      this.#shared.release();
      this.#let(block);
      if (dictionaryBlock) this.#let(dictionaryBlock);
    };
    if (this.#compression === 'none') {
      try {
        this.#output(input);
      } finally {
        done();
      }
      return;
    }
    let compressed: Promise<Output>;
    if (this.#compression === 'gzip') {
      const previous = dictionaryBlock;
      const dictionary = previous?.buffer.subarray(Math.max(0, previous.fill - WINDOW), previous.fill);
      compressed = deflateBlock(input, dictionary, final, this.#level);
      this.#previous = final ? undefined : block;
      if (!final) block.holds++;
    } else compressed = zstdBlock(input, this.#level);
    compressed.catch(() => {}); // reported through #tail
    const before = this.#tail;
    this.#tail = (async () => {
      let out: Output;
      try {
        out = await compressed;
      } finally {
        done();
      }
      await before;
      if (this.#failure) return;
      for (const chunk of out) this.#output(chunk);
      // The job has ended: its output buffers are ours, and free once written.
      new Set(out.map((chunk) => chunk.buffer)).forEach(releaseArrayBuffer);
    })();
    this.#tail.catch((e: unknown) => this.#fail(e));
  }

  /**
   * Appends `data` to the blob: hashed, and written at the next position. Written synchronously:
   * a write into the page cache costs microseconds, while a round trip through libuv's thread pool,
   * busy with (de)compression, costs a third of a millisecond of this thread's time in lock waits.
   */
  #output(data: Buffer): void {
    if (this.#compression !== 'none') this.#blobHash.update(data);
    const position = this.#blobBytes;
    this.#blobBytes += data.length;
    try {
      for (let done = 0; done < data.length;) done += writeSync(this.#fd, data, done, data.length - done, position + done);
    } catch (e) {
      throw new UserError(`${this.path}: cannot write scratch file: ${fsProblem(e)}`);
    }
  }

  #let(block: Block): void {
    if (--block.holds > 0) return;
    if (block.buffer.length === this.#blockBytes) this.#shared.recycle(block.buffer);
    else releaseBuffer(block.buffer);
  }

  #fail(e: unknown): void {
    this.#failure ??= e instanceof Error ? e : new Error(String(e));
  }

  /** Ends the tar, waits for every byte to reach the file, and closes it. */
  async finish(): Promise<SinkResult> {
    try {
      const end = this.write(END_OF_TAR);
      if (end) await end;
      if (this.#compression !== 'none' || this.#fill > 0) await this.#flush(true);
      await this.#tail.catch(() => {});
      if (this.#compression === 'gzip' && !this.#failure) {
        const trailer = Buffer.alloc(8);
        trailer.writeUInt32LE(this.#crc >>> 0, 0);
        trailer.writeUInt32LE(this.#tarBytes % 2 ** 32, 4);
        this.#output(trailer);
      }
    } finally {
      await this.close();
    }
    if (this.#failure) throw this.#failure;
    const diffId = `sha256:${this.#tarHash.digest('hex')}`;
    return { diffId, digest: this.#compression === 'none' ? diffId : `sha256:${this.#blobHash.digest('hex')}`, size: this.#blobBytes };
  }

  /** Closes the file (also after a failure elsewhere; the caller removes it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => {});
    await new Promise<void>((resolve) => close(this.#fd, () => resolve()));
  }
}
