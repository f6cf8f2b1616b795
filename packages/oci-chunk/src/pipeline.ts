/**
 * The re-chunker: scan -> components -> packing -> oci_build, each phase inside a tracker span so an
 * allocation report names them. The pipeline depends on the tracker only through `span`.
 */
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { span } from 'alloc-tracker';
import { openImage, type ImageConfig, type OciImage } from './archive/index.ts';
import { buildLayout, writeOciArchive, type BuildResult, type Compression } from './build/index.ts';
import { assignComponents } from './components/index.ts';
import { DEFAULT_MAX_LAYERS, packComponents } from './packing/index.ts';
import { ImageContents, parsePruneRules, scanDirectory, scanImage } from './scan/index.ts';
import type { FileMap } from './types.ts';
import { UserError, collectGarbage, makeTempDir, progressDone, quote, removeQuietly } from './util.ts';

export interface ChunkOptions {
  maxLayers?: number;
  /** Prune specs (`/p` drops the subtree, `/p/` keeps the directory only). */
  prune?: string[];
  /** gzip output (when `compression` is not given). */
  compressed?: boolean;
  compression?: Compression;
  gzipLevel?: number;
  zstdLevel?: number;
  tag?: string;
  /** Skip sockets, FIFOs and devices instead of failing. */
  skipSpecial?: boolean;
  /** Build time in seconds; default SOURCE_DATE_EPOCH, else the input's created time, else now. */
  epoch?: number;
  /** Where scratch files go (default: the OS temp directory). */
  tempDir?: string;
}

export interface ChunkResult extends BuildResult {
  fileCount: number;
  componentCount: number;
}

/** Latest build time accepted: 9999-12-31T23:59:59Z (ISO 8601 dates have four-digit years). */
export const MAX_EPOCH = 253_402_300_799;

/** SOURCE_DATE_EPOCH if set (and valid), else undefined. */
export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env['SOURCE_DATE_EPOCH'];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw) || Number(raw) > MAX_EPOCH) {
    throw new UserError(`SOURCE_DATE_EPOCH must be a whole number of seconds up to ${MAX_EPOCH} (year 9999), got ${quote(raw, 40)}`);
  }
  return Number(raw);
}

/** Re-chunks `input` (oci-archive, OCI layout directory or root-filesystem directory) into an oci-archive at `output`. */
export async function chunkImage(input: string, output: string, options: ChunkOptions = {}): Promise<ChunkResult> {
  const maxLayers = options.maxLayers ?? DEFAULT_MAX_LAYERS;
  if (options.epoch !== undefined && !(Number.isSafeInteger(options.epoch) && options.epoch >= 0 && options.epoch <= MAX_EPOCH)) {
    throw new UserError(`the build time must be whole seconds from 0 to ${MAX_EPOCH}, got ${options.epoch}`);
  }
  if (!Number.isInteger(maxLayers) || maxLayers < 1) throw new UserError(`--max-layers must be a positive integer, got ${maxLayers}`);
  const prune = parsePruneRules(options.prune);
  const inputStat = await stat(input).catch(() => undefined);
  if (!inputStat) throw new UserError(`${input}: no such file or directory`);
  const outDir = dirname(resolve(output));
  if (!(await stat(outDir).catch(() => undefined))?.isDirectory()) throw new UserError(`${outDir}: output directory does not exist`);

  const workDir = await makeTempDir('oci-chunk', options.tempDir);
  try {
    let image: OciImage | undefined;
    let contents: ImageContents | undefined;
    const isRootfs = inputStat.isDirectory() && !(await stat(join(input, 'oci-layout')).catch(() => undefined));

    // An image's layers are read twice: by the scan (headers, digests, the package databases) and
    // by the build (file data, straight into the output layers). Nothing else is copied.
    const files: FileMap = await span('scan', async () => {
      if (isRootfs) return scanDirectory(input, { prune, skipSpecial: options.skipSpecial });
      image = await openImage(input);
      contents = new ImageContents(image, join(workDir, 'fetched'));
      return scanImage(image, undefined, { prune, skipSpecial: options.skipSpecial, contents });
    });
    const inputConfig: ImageConfig | undefined = image?.config;
    collectGarbage(); // the scan's layer tree
    const components = await span('components', () =>
      assignComponents(files, { contents }).catch((e: unknown) => {
        // Errors there name a file inside the image; say which image too.
        throw e instanceof UserError ? new UserError(`${input}: ${e.message}`, { cause: e }) : e;
      }),
    );
    contents?.release();
    const groups = span('packing', () => packComponents(components, maxLayers));
    collectGarbage(); // the components' path index and claim tables (after packing, a few ms: its code stays compiled)

    let epoch = options.epoch ?? sourceDateEpoch();
    if (epoch === undefined && inputConfig?.created) {
      const t = Date.parse(inputConfig.created);
      if (Number.isFinite(t)) epoch = Math.floor(t / 1000);
    }
    epoch ??= Math.floor(Date.now() / 1000);

    const result = await span('oci_build', async () => {
      const built = await buildLayout(files, groups, {
        workDir,
        epoch,
        compressed: options.compressed,
        compression: options.compression,
        gzipLevel: options.gzipLevel,
        zstdLevel: options.zstdLevel,
        tag: options.tag,
        inputConfig,
        image,
      });
      await writeOciArchive(built.layoutDir, output);
      return built.result;
    });
    return { ...result, fileCount: files.size, componentCount: components.length };
  } finally {
    progressDone();
    await removeQuietly(workDir);
  }
}
