/**
 * The contents of image files the components phase reads (package databases, changelogs), for a
 * FileMap whose contents lie in the image's layers. The scan keeps them in memory as they pass,
 * within a budget; what it did not keep (past the budget, or reached through a symlinked directory)
 * is fetched in one pass over each layer concerned. They are dropped after the components phase:
 * the build reads every file's data from the layers again, these included.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { forEachLayerEntry, type OciImage } from '../archive/index.ts';
import { mayReadContent, type ContentStore } from '../components/image-fs.ts';
import type { FileInfo } from '../types.ts';
import type { ColumnFileMap } from './columns.ts';
import { UserError, fsProblem, releaseBuffer } from '../util.ts';

/** Bytes of file contents kept in memory at most (Debian minbase needs 5.3 MiB). */
export const KEPT_CONTENTS_BUDGET = 16 * 1024 * 1024;

const key = (layer: number, offset: number) => layer * 2 ** 40 + offset;

export class ImageContents implements ContentStore {
  readonly #image: OciImage;
  readonly #scratch: string;
  readonly #budget: number;
  readonly #kept = new Map<number, Buffer>();
  #bytes = 0;
  #spooled = 0;
  #files: ColumnFileMap | undefined;
  /** Layers the scan read to the end: their diff_ids were checked. */
  readonly #checked = new Set<number>();

  /** `scratch`: a directory (created when needed) for what is fetched past the budget. */
  constructor(image: OciImage, scratch: string, budget = KEPT_CONTENTS_BUDGET) {
    this.#image = image;
    this.#scratch = scratch;
    this.#budget = budget;
  }

  /**
   * The scan's map, told where fetched files went: its FileInfo objects are made when asked, so
   * changing one (as fetch does) would not change the map.
   */
  track(files: ColumnFileMap): void {
    this.#files = files;
  }

  /** The scan read layer `layer` to its end and checked its diff_id: a fetch need not hash its tar again. */
  layerChecked(layer: number): void {
    this.#checked.add(layer);
  }

  /** During the scan: whether to keep the `size` bytes of the file at `path`. */
  wants(path: string, size: number): boolean {
    return mayReadContent(path) && this.#bytes + size <= this.#budget;
  }

  /** Keeps the bytes of the entry at `offset` of layer `layer` (read whole from `body`). */
  async keep(layer: number, offset: number, size: number, body: AsyncIterable<Buffer>): Promise<void> {
    const bytes = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for await (const piece of body) at += piece.copy(bytes, at);
    if (at !== size) throw new Error(`entry at ${offset} of layer ${layer}: ${at} bytes where ${size} were declared`);
    const k = key(layer, offset);
    const old = this.#kept.get(k);
    if (old) this.#bytes -= old.length;
    this.#kept.set(k, bytes);
    this.#bytes += size;
  }

  bytes(file: FileInfo): Buffer | undefined {
    return file.content.kind === 'layer' ? this.#kept.get(key(file.content.layer, file.content.offset)) : undefined;
  }

  /**
   * Makes the contents of `files` readable: kept in memory within the budget, else copied to a
   * scratch file (the file's content then names it). One pass over each layer concerned.
   */
  async fetch(files: readonly FileInfo[]): Promise<void> {
    const wanted = new Map<number, Map<number, FileInfo[]>>();
    for (const file of files) {
      if (file.content.kind !== 'layer' || this.bytes(file)) continue;
      const { layer, offset } = file.content;
      let byOffset = wanted.get(layer);
      if (!byOffset) wanted.set(layer, (byOffset = new Map<number, FileInfo[]>()));
      const list = byOffset.get(offset);
      if (list) list.push(file);
      else byOffset.set(offset, [file]);
    }
    for (const layer of [...wanted.keys()].sort((a, b) => a - b)) {
      const byOffset = wanted.get(layer) as Map<number, FileInfo[]>;
      await forEachLayerEntry(
        this.#image,
        layer,
        async ({ header, offset, body }) => {
          const list = byOffset.get(offset);
          if (!list) return;
          byOffset.delete(offset);
          if (this.#bytes + header.size <= this.#budget) return this.keep(layer, offset, header.size, body);
          const path = await this.#spool(body);
          for (const file of list) {
            file.content = { kind: 'path', path };
            this.#files?.setHostPath(file.path, path);
          }
        },
        { diffIdChecked: this.#checked.has(layer) },
      );
      if (byOffset.size > 0) throw new UserError(`${this.#image.source}: layer ${layer} changed since it was first read`);
    }
  }

  async #spool(body: AsyncIterable<Buffer>): Promise<string> {
    if (this.#spooled === 0) await mkdir(this.#scratch, { recursive: true });
    const path = join(this.#scratch, String(this.#spooled++));
    await writeScratchFile(path, body);
    return path;
  }

  /** Drops every kept file (the components phase is over). */
  release(): void {
    for (const bytes of this.#kept.values()) releaseBuffer(bytes);
    this.#kept.clear();
    this.#bytes = 0;
  }
}

/**
 * Writes an entry's body to a new scratch file (never over an existing one). Each piece is copied: the
 * layer reader reuses its buffers once the next piece is asked for.
 */
export async function writeScratchFile(path: string, body: AsyncIterable<Buffer>): Promise<void> {
  const sink = createWriteStream(path, { flags: 'wx' });
  let sinkError: unknown;
  sink.once('error', (e) => (sinkError = e));
  try {
    await pipeline(copies(body), sink);
  } catch (e) {
    if (sinkError !== undefined) throw new UserError(`${path}: cannot write scratch file: ${fsProblem(sinkError)}`);
    throw e;
  }
}

async function* copies(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer, void, undefined> {
  for await (const piece of pieces) yield Buffer.from(piece);
}
