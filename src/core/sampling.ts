import { Session as InspectorSession } from 'node:inspector';
import { fileURLToPath } from 'node:url';

/** The parts of a CDP sampling heap profile we read. */
interface ProfileNode {
  id: number;
  selfSize: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children: ProfileNode[];
}
interface ProfileSample {
  size: number;
  nodeId: number;
  ordinal: number;
}
export interface SamplingProfile {
  head: ProfileNode;
  samples: ProfileSample[];
}

/** What one segment's samples say, after the harness's own allocations are removed. */
export interface SampleSummary {
  /**
   * Samples taken. At interval 1 V8 samples every allocation event, so this is the exact count; above
   * 1 it is only the number of samples.
   */
  count: number;
  /** Estimated bytes per site key. */
  sites: Map<string, SiteBytes>;
}
export interface SiteBytes {
  functionName: string;
  location: string;
  bytes: number;
}

/**
 * One in-process inspector session driving V8's sampling heap profiler. `post` on an in-process
 * session completes synchronously, so start/stop can sit at span boundaries.
 */
export class HeapSampler {
  private readonly session = new InspectorSession();
  private running = false;

  constructor() {
    this.session.connect();
  }

  start(samplingInterval: number): void {
    let failure: Error | null = null;
    this.session.post(
      'HeapProfiler.startSampling',
      {
        samplingInterval,
        // Without these V8 only reports objects still alive at stop: we want every allocation.
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      },
      (error) => {
        failure = error;
      },
    );
    if (failure) throw new Error(`alloc-tracker: cannot start the sampling heap profiler: ${String(failure)}`);
    this.running = true;
  }

  stop(): SamplingProfile {
    if (!this.running) throw new Error('alloc-tracker: sampling heap profiler is not running');
    let profile: SamplingProfile | null = null;
    let failure: Error | null = null;
    this.session.post('HeapProfiler.stopSampling', (error, result) => {
      failure = error;
      profile = (result?.profile as unknown as SamplingProfile | undefined) ?? null;
    });
    this.running = false;
    if (failure || !profile) {
      throw new Error(`alloc-tracker: cannot stop the sampling heap profiler: ${String(failure ?? 'no profile')}`);
    }
    return profile;
  }
}

/** Source files of the tracker itself: allocations whose nearest script frame is here are harness. */
const harnessFiles = new Set<string>();
export function registerHarnessFile(moduleUrl: string): void {
  harnessFiles.add(moduleUrl);
  try {
    harnessFiles.add(fileURLToPath(moduleUrl));
  } catch {
    // Not a file URL: the URL form is enough.
  }
}
registerHarnessFile(import.meta.url);

function isInternalUrl(url: string): boolean {
  return url === '' || url.startsWith('node:');
}

/**
 * Count allocation events and bytes per site, skipping the tracker's own allocations. A site is the
 * nearest frame with a script outside Node's internals (`node:*`) and builtins: "Promise (native)"
 * or "nextTick (node:internal/...)" says nothing a reader can act on; the code that called them does.
 */
export function summariseProfile(profile: SamplingProfile): SampleSummary {
  const attribution = new Map<number, { harness: boolean; site: SiteBytes }>();
  const walk = (node: ProfileNode, nearestScript: ProfileNode | null): void => {
    const script = isInternalUrl(node.callFrame.url) ? nearestScript : node;
    const frame = (script ?? node).callFrame;
    const location = frame.url === '' ? '(native)' : `${frame.url}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
    attribution.set(node.id, {
      harness: script !== null && harnessFiles.has(script.callFrame.url),
      site: { functionName: frame.functionName || '(anonymous)', location, bytes: 0 },
    });
    for (const child of node.children) walk(child, script);
  };
  walk(profile.head, null);

  let count = 0;
  const sites = new Map<string, SiteBytes>();
  for (const sample of profile.samples) {
    const node = attribution.get(sample.nodeId);
    if (!node || node.harness) continue;
    count++;
    const key = `${node.site.functionName}\u0000${node.site.location}`;
    const site = sites.get(key);
    if (site) site.bytes += sample.size;
    else sites.set(key, { ...node.site, bytes: sample.size });
  }
  return { count, sites };
}
