/** `inspect` and `reuse`: reading built archives without unpacking their layers to disk. */
import { readOciArchive, type OciImage } from './archive/index.ts';
import { escapeControl, formatBinaryBytes } from './util.ts';

export interface LayerSummary {
  digest: string;
  size: number;
  mediaType: string;
  component: string | null;
  stability: number | null;
}

export interface InspectResult {
  archive: string;
  manifestDigest: string;
  configDigest: string;
  created: string | null;
  architecture: string | null;
  os: string | null;
  config: Record<string, unknown>;
  totalSize: number;
  layers: LayerSummary[];
}

export function summarise(image: OciImage): InspectResult {
  const layers = image.manifest.layers.map((l) => {
    const stability = l.annotations?.['org.chunkah.stability'];
    return {
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      component: l.annotations?.['org.chunkah.component'] ?? null,
      stability: stability === undefined ? null : Number(stability),
    };
  });
  return {
    archive: image.source,
    manifestDigest: image.manifestDigest,
    configDigest: image.manifest.config.digest,
    created: image.config.created ?? null,
    architecture: image.config.architecture ?? null,
    os: image.config.os ?? null,
    config: image.config.config ?? {},
    totalSize: layers.reduce((s, l) => s + l.size, 0),
    layers,
  };
}

/** Reads and verifies an archive (every blob hashed, layers discarded as they stream past). */
export async function inspectArchive(archive: string): Promise<InspectResult> {
  return summarise(await readOciArchive(archive));
}

/** Everything printed comes from the archive: control characters and escapes never reach the terminal raw. */
export function formatInspect(r: InspectResult): string {
  const lines = [
    `archive:   ${r.archive}`,
    `manifest:  ${r.manifestDigest}`,
    `config:    ${r.configDigest}`,
    `created:   ${r.created ?? '-'}`,
    `platform:  ${r.os ?? '?'}/${r.architecture ?? '?'}`,
  ];
  for (const key of ['User', 'WorkingDir', 'Entrypoint', 'Cmd', 'Env', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal']) {
    if (r.config[key] !== undefined) lines.push(`  ${key}: ${JSON.stringify(r.config[key])}`);
  }
  lines.push(`layers:    ${r.layers.length} (${formatBinaryBytes(r.totalSize)})`);
  lines.push(`  #  digest        size        stability  component`);
  r.layers.forEach((l, i) => {
    lines.push(
      `  ${String(i).padStart(2)} ${l.digest.slice(7, 19)}  ${formatBinaryBytes(l.size).padStart(10)}  ${(l.stability === null || !Number.isFinite(l.stability) ? '-' : l.stability.toFixed(3)).padStart(9)}  ${l.component ?? '-'}`,
    );
  });
  return lines.map(escapeControl).join('\n') + '\n';
}

export interface ReusePair {
  from: string;
  to: string;
  sharedLayers: number;
  newLayers: number;
  sharedBytes: number;
  downloadBytes: number;
  reuseRatio: number;
}

export interface ReuseReport {
  archives: { archive: string; layers: number; size: number }[];
  pairs: ReusePair[];
  summary: {
    updates: number;
    averageReuseRatio: number;
    averageDownload: number;
    minDownload: number;
    maxDownload: number;
    totalDownload: number;
  };
}

/** Layer reuse between consecutive versions: a layer is shared when its digest was in the previous version. */
export function computeReuse(images: InspectResult[]): ReuseReport {
  const pairs: ReusePair[] = [];
  for (let i = 1; i < images.length; i++) {
    const prev = images[i - 1]!;
    const cur = images[i]!;
    const before = new Set(prev.layers.map((l) => l.digest));
    let sharedLayers = 0;
    let sharedBytes = 0;
    let newLayers = 0;
    let downloadBytes = 0;
    for (const l of cur.layers) {
      if (before.has(l.digest)) {
        sharedLayers++;
        sharedBytes += l.size;
      } else {
        newLayers++;
        downloadBytes += l.size;
      }
    }
    const total = sharedBytes + downloadBytes;
    pairs.push({
      from: prev.archive,
      to: cur.archive,
      sharedLayers,
      newLayers,
      sharedBytes,
      downloadBytes,
      reuseRatio: total === 0 ? 1 : sharedBytes / total,
    });
  }
  const downloads = pairs.map((p) => p.downloadBytes);
  const totalDownload = downloads.reduce((a, b) => a + b, 0);
  return {
    archives: images.map((r) => ({ archive: r.archive, layers: r.layers.length, size: r.totalSize })),
    pairs,
    summary: {
      updates: pairs.length,
      averageReuseRatio: pairs.length ? pairs.reduce((s, p) => s + p.reuseRatio, 0) / pairs.length : 0,
      averageDownload: pairs.length ? totalDownload / pairs.length : 0,
      minDownload: pairs.length ? Math.min(...downloads) : 0,
      maxDownload: pairs.length ? Math.max(...downloads) : 0,
      totalDownload,
    },
  };
}

export function formatReuse(r: ReuseReport): string {
  const lines = ['from -> to: shared/new layers, shared bytes, download, reuse'];
  for (const p of r.pairs) {
    lines.push(
      `${p.from} -> ${p.to}: ${p.sharedLayers}/${p.newLayers} layers, shared ${formatBinaryBytes(p.sharedBytes)}, download ${formatBinaryBytes(p.downloadBytes)}, reuse ${(p.reuseRatio * 100).toFixed(1)}%`,
    );
  }
  const s = r.summary;
  lines.push(
    `summary: ${s.updates} updates, average reuse ${(s.averageReuseRatio * 100).toFixed(1)}%, download avg ${formatBinaryBytes(Math.round(s.averageDownload))}, min ${formatBinaryBytes(s.minDownload)}, max ${formatBinaryBytes(s.maxDownload)}, total ${formatBinaryBytes(s.totalDownload)}`,
  );
  return lines.map(escapeControl).join('\n') + '\n';
}
