import { Session as InspectorSession } from 'node:inspector';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

/** The parts of a V8 sampling heap profile we read (CDP shape; `scriptId` is a number from v8.startHeapProfile). */
export interface CallFrame {
  functionName: string;
  scriptId: string | number;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
export interface ProfileNode {
  id: number;
  selfSize: number;
  callFrame: CallFrame;
  children: ProfileNode[];
}
interface ProfileSample {
  size: number;
  nodeId: number;
  ordinal: number;
}
/** A stopped profile: its call tree, and its samples (a profile at interval 1 holds one per allocation). */
export interface SamplingProfile {
  head: ProfileNode;
  forEachSample(visit: (nodeId: number, size: number, ordinal: number) => void): void;
  /** The samples of the given tree nodes only (markers: a few among up to millions). */
  samplesOf(nodeIds: ReadonlySet<number>): ProfileSample[];
}

/** Samples are parsed this many characters at a time: a million sample objects at once would double the peak. */
const SAMPLE_CHUNK = 1 << 16;

/**
 * The profile `v8.startHeapProfile().stop()` returns: `{"samples":[{...},...],"head":{...}}`. The tree
 * is parsed whole; the samples a chunk at a time, so only a chunk's sample objects exist at once.
 */
function profileFromJson(json: string): SamplingProfile {
  const headAt = json.lastIndexOf('"head":');
  const samplesAt = json.indexOf('[');
  if (!json.startsWith('{"samples":[') || headAt === -1) {
    const parsed = JSON.parse(json) as { head: ProfileNode; samples: ProfileSample[] };
    return profileFromObject(parsed);
  }
  const head = JSON.parse(json.slice(headAt + '"head":'.length, json.lastIndexOf('}'))) as ProfileNode;
  // The samples array ends with "]," right before "head".
  const samplesEnd = json.lastIndexOf(']', headAt);
  const profile: SamplingProfile = {
    head,
    samplesOf(nodeIds) {
      // V8 writes each sample as {"size":S,"nodeId":N,"ordinal":O}: a pattern that names the wanted
      // nodes finds their samples without making an object for every other one (parsing all of them,
      // even a chunk at a time, raised a counting run's peak RSS by 12-15 MiB on 1e6 objects).
      if (!/^\{"samples":\[(\]|\{"size":\d+,"nodeId":\d+,"ordinal":\d+\})/.test(json)) return filterSamples(profile, nodeIds);
      if (nodeIds.size === 0) return [];
      const pattern = new RegExp(`\\{"size":(\\d+),"nodeId":(${[...nodeIds].join('|')}),"ordinal":(\\d+)\\}`, 'g');
      pattern.lastIndex = samplesAt;
      const found: ProfileSample[] = [];
      for (let match = pattern.exec(json); match && match.index < samplesEnd; match = pattern.exec(json)) {
        found.push({ size: Number(match[1]), nodeId: Number(match[2]), ordinal: Number(match[3]) });
      }
      return found;
    },
    forEachSample(visit) {
      let from = samplesAt + 1;
      while (from < samplesEnd) {
        let to = json.indexOf('},{', Math.min(from + SAMPLE_CHUNK, samplesEnd));
        if (to === -1 || to > samplesEnd) to = samplesEnd;
        else to += 1;
        const chunk = JSON.parse(`[${json.slice(from, to)}]`) as ProfileSample[];
        for (const sample of chunk) visit(sample.nodeId, sample.size, sample.ordinal);
        from = to + 1;
      }
    },
  };
  return profile;
}

function filterSamples(profile: SamplingProfile, nodeIds: ReadonlySet<number>): ProfileSample[] {
  const found: ProfileSample[] = [];
  profile.forEachSample((nodeId, size, ordinal) => {
    if (nodeIds.has(nodeId)) found.push({ size, nodeId, ordinal });
  });
  return found;
}

function profileFromObject(parsed: { head: ProfileNode; samples: ProfileSample[] }): SamplingProfile {
  const profile: SamplingProfile = {
    head: parsed.head,
    forEachSample(visit) {
      for (const sample of parsed.samples) visit(sample.nodeId, sample.size, sample.ordinal);
    },
    samplesOf: (nodeIds) => filterSamples(profile, nodeIds),
  };
  return profile;
}

/** Bytes allocated per call path, merged across segments and calls: V8's profile tree, minus the harness. */
export interface CallTree {
  callFrame: CallFrame;
  selfSize: number;
  children: Map<string, CallTree>;
}

function frameKey(frame: CallFrame): string {
  return `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
}

export function emptyCallTree(): CallTree {
  return {
    callFrame: { functionName: '(root)', scriptId: '0', url: '', lineNumber: -1, columnNumber: -1 },
    selfSize: 0,
    children: new Map(),
  };
}

/** Add `from` into `into`, path by path. */
export function mergeCallTree(into: CallTree, from: CallTree): void {
  into.selfSize += from.selfSize;
  for (const [key, child] of from.children) {
    const mine = into.children.get(key);
    if (mine) mergeCallTree(mine, child);
    else into.children.set(key, cloneCallTree(child));
  }
}

function cloneCallTree(tree: CallTree): CallTree {
  const copy: CallTree = { callFrame: { ...tree.callFrame }, selfSize: tree.selfSize, children: new Map() };
  for (const [key, child] of tree.children) copy.children.set(key, cloneCallTree(child));
  return copy;
}

/** What one segment's samples say, after the harness's own allocations are removed. */
export interface SampleSummary {
  /** Samples taken; at interval 1 V8 samples every allocation, so this is the exact count. */
  count: number;
  /** Estimated bytes per site key. */
  sites: Map<string, SiteBytes>;
  /** The same samples as a call tree (paths without any counted sample left out). */
  tree: CallTree;
}
export interface SiteBytes {
  functionName: string;
  location: string;
  bytes: number;
}

/**
 * Frames kept per sample: enough to see past Node's internals to the code that called them, and for a
 * call tree. At interval 1 every allocation takes a sample, and walking deep stacks dominated the cost
 * (a million allocations under 30 frames: 10.8 s at depth 32, 6.9 s at depth 8), so fewer frames there.
 */
function stackDepthFor(interval: number): number {
  return interval === 1 ? 8 : 64;
}

/** How a profile is taken: which samples it keeps at stop, and how many frames each records. */
export interface SamplingOptions {
  /** Report only objects still alive at stop (V8 drops the samples of collected objects). */
  liveOnly: boolean;
  stackDepth: number;
}

/**
 * Counting only (interval 1 without sites): one frame per sample, and only live samples kept. V8 then
 * frees a sample when its object dies instead of holding every sample (and its stack) until stop, and
 * the count comes from the ordinals of two markers (see `countBetweenMarkers`).
 */
export const COUNT_ONLY: SamplingOptions = { liveOnly: true, stackDepth: 1 };

/** One running sampling profile, stopped for its samples. */
interface Backend {
  start(interval: number, options: SamplingOptions): void;
  stop(): SamplingProfile;
}

/** Node >= 26: `v8.startHeapProfile`, synchronous and in-process, no inspector session. */
class SyncBackend implements Backend {
  private handle: { stop(): string | undefined } | null = null;
  start(interval: number, options: SamplingOptions): void {
    const api = v8 as unknown as { startHeapProfile(options: object): { stop(): string | undefined } };
    this.handle = api.startHeapProfile({
      sampleInterval: interval,
      stackDepth: options.stackDepth,
      // Without these V8 only reports objects still alive at stop.
      includeObjectsCollectedByMajorGC: !options.liveOnly,
      includeObjectsCollectedByMinorGC: !options.liveOnly,
    });
  }
  stop(): SamplingProfile {
    const handle = this.handle;
    // Forgotten even when stop() throws (a profile too long for a string): the next start makes a new one.
    this.handle = null;
    const json = handle?.stop();
    if (typeof json !== 'string') throw new Error('alloc-tracker: the heap sampler returned no profile');
    return profileFromJson(json);
  }
}

/** Node 22/24: the inspector's HeapProfiler; `post` on an in-process session completes synchronously. */
class InspectorBackend implements Backend {
  private readonly session = new InspectorSession();
  constructor() {
    this.session.connect();
  }
  start(interval: number, options: SamplingOptions): void {
    // The inspector records full stacks: it has no depth option.
    const liveOnly = options.liveOnly;
    let failure: Error | null = null;
    this.session.post(
      'HeapProfiler.startSampling',
      { samplingInterval: interval, includeObjectsCollectedByMajorGC: !liveOnly, includeObjectsCollectedByMinorGC: !liveOnly },
      (error) => {
        failure = error;
      },
    );
    if (failure) throw new Error(`alloc-tracker: cannot start the sampling heap profiler: ${String(failure)}`);
  }
  stop(): SamplingProfile {
    let profile: { head: ProfileNode; samples: ProfileSample[] } | null = null;
    let failure: Error | null = null;
    this.session.post('HeapProfiler.stopSampling', (error, result) => {
      failure = error;
      profile = (result?.profile as unknown as { head: ProfileNode; samples: ProfileSample[] } | undefined) ?? null;
    });
    if (failure || !profile) throw new Error(`alloc-tracker: cannot stop the sampling heap profiler: ${String(failure ?? 'no profile')}`);
    return profileFromObject(profile);
  }
}

/**
 * Segment markers: the samples of two calls bound a stretch of allocations by their ordinals (V8
 * numbers its samples in allocation order, the dead ones' too). The marker functions belong to another
 * V8 context: V8 never inlines across contexts, so however hot the caller gets, whatever they allocate
 * is sampled with their own frame on top, and nothing else is.
 */
const MARKER_FILE = 'alloc-tracker:segment-marker';
const MARKER_SOURCE =
  '[function segmentStart() { return {}; }, function segmentEnd() { return {}; }, function retentionMark() { return {}; }]';
type MarkerName = 'segmentStart' | 'segmentEnd' | 'retentionMark';
let markerFunctions: [start: () => object, end: () => object, retention: () => object] | null = null;

/** Makes the marker functions (a new context: ~0.7 MB allocated once); call outside any measured window. */
export function prepareMarkers(): void {
  if (markerFunctions) return;
  markerFunctions = vm.runInNewContext(MARKER_SOURCE, {}, { filename: MARKER_FILE }) as [() => object, () => object, () => object];
  // Their first calls allocate feedback; later ones may too (tier-ups), in their own frames, so those
  // allocations are the markers' and come off a segment's count and bytes.
  for (let i = 0; i < 2; i++) for (const marker of markerFunctions) marker();
}

/** The start marker of a stretch (call `prepareMarkers` first); keep it alive until the profile stops. */
export function startMarker(): object {
  return markerFunctions![0]();
}

/** The end marker of a stretch; keep it alive until the profile stops. */
export function endMarker(): object {
  return markerFunctions![1]();
}

/** A retention marker (a boundary of a tracked call); keep it alive until the profile stops. */
export function retentionMarker(): object {
  prepareMarkers();
  return markerFunctions![2]();
}

/** The tree nodes of marker function `name`'s frame. */
function markerNodes(profile: SamplingProfile, name: MarkerName): Set<number> {
  const nodes = new Set<number>();
  const visit = (node: ProfileNode): void => {
    if (node.callFrame.url === MARKER_FILE && node.callFrame.functionName === name) nodes.add(node.id);
    for (const child of node.children) visit(child);
  };
  visit(profile.head);
  return nodes;
}

/** The samples taken in marker function `name`'s frame: its markers, and whatever else it allocated. */
export function samplesOfMarker(profile: SamplingProfile, name: MarkerName): { ordinal: number; size: number }[] {
  return profile.samplesOf(markerNodes(profile, name));
}

/**
 * The allocations between the one start marker and the one end marker of a live-only profile (with
 * the markers kept alive), and the bytes the marker calls allocated. Null when either is missing.
 */
export function countBetweenMarkers(profile: SamplingProfile): { count: number; markerBytes: number } | null {
  const startNodes = markerNodes(profile, 'segmentStart');
  const endNodes = markerNodes(profile, 'segmentEnd');
  // One scan of the samples finds both.
  const samples = profile.samplesOf(new Set([...startNodes, ...endNodes]));
  const start = samples.filter((sample) => startNodes.has(sample.nodeId));
  const end = samples.filter((sample) => endNodes.has(sample.nodeId));
  if (start.length === 0 || end.length === 0) return null;
  // The start call's last sample and the end call's first.
  const lastOfStart = Math.max(...start.map((s) => s.ordinal));
  const firstOfEnd = Math.min(...end.map((s) => s.ordinal));
  if (firstOfEnd <= lastOfStart) return null;
  const markerBytes = [...start, ...end].reduce((sum, s) => sum + s.size, 0);
  return { count: firstOfEnd - lastOfStart - 1, markerBytes };
}

let randomnessSuppressed = false;

/**
 * V8's sampling heap profiler, started and stopped at segment boundaries. Sparse intervals sample at
 * fixed byte distances (`--sampling-heap-profiler-suppress-randomness`), so the same allocations give
 * the same sites in every run; at interval 1 every allocation is a sample anyway.
 */
export class HeapSampler {
  private backend: Backend | null = null;
  private running = false;

  /**
   * Starts sampling; false when another heap profile of this process is running (V8 allows one). With
   * `liveOnly`, the profile at stop holds only the sampled objects still alive then.
   */
  start(interval: number, options: Partial<SamplingOptions> = {}): boolean {
    if (!randomnessSuppressed) {
      v8.setFlagsFromString('--sampling-heap-profiler-suppress-randomness');
      randomnessSuppressed = true;
    }
    this.backend ??=
      typeof (v8 as { startHeapProfile?: unknown }).startHeapProfile === 'function' ? new SyncBackend() : new InspectorBackend();
    try {
      this.backend.start(interval, { liveOnly: options.liveOnly ?? false, stackDepth: options.stackDepth ?? stackDepthFor(interval) });
    } catch {
      return false;
    }
    this.running = true;
    return true;
  }

  stop(): SamplingProfile | null {
    if (!this.running || !this.backend) return null;
    this.running = false;
    return this.backend.stop();
  }
}

/**
 * Source files of the tracker itself: allocations whose nearest script frame is here are harness.
 * Shared by every copy of this module in the process, like the meter that reads it.
 */
const HARNESS_KEY = Symbol.for('alloc-tracker.harness-files.v1');
const harnessFiles: Set<string> =
  ((globalThis as Record<symbol, unknown>)[HARNESS_KEY] as Set<string> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[HARNESS_KEY] = new Set<string>());
export function registerHarnessFile(moduleUrl: string): void {
  harnessFiles.add(moduleUrl);
  try {
    harnessFiles.add(fileURLToPath(moduleUrl));
  } catch {
    // Not a file URL: the URL form is enough.
  }
}
registerHarnessFile(import.meta.url);
registerHarnessFile(MARKER_FILE);

function isInternalUrl(url: string): boolean {
  return url === '' || url.startsWith('node:');
}

export function isHarnessUrl(url: string): boolean {
  return harnessFiles.has(url);
}

/**
 * Each node's site: the nearest frame with a script outside Node's internals and builtins, and whether
 * that frame is the tracker's own (its allocations are harness).
 */
export function attributeNodes(head: ProfileNode): Map<number, { harness: boolean; site: { functionName: string; location: string } }> {
  const out = new Map<number, { harness: boolean; site: { functionName: string; location: string } }>();
  const walk = (node: ProfileNode, nearestScript: ProfileNode | null): void => {
    const script = isInternalUrl(node.callFrame.url) ? nearestScript : node;
    const frame = (script ?? node).callFrame;
    out.set(node.id, {
      harness: script !== null && harnessFiles.has(script.callFrame.url),
      site: {
        functionName: frame.functionName || '(anonymous)',
        location: frame.url === '' ? '(native)' : `${frame.url}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`,
      },
    });
    for (const child of node.children) walk(child, script);
  };
  walk(head, null);
  return out;
}

/**
 * Count allocations and bytes per site, skipping the tracker's own allocations. A site is the nearest
 * frame with a script outside Node's internals (`node:*`) and builtins: "Promise (native)" or
 * "nextTick (node:internal/...)" says nothing a reader can act on; the code that called them does.
 */
export function summariseProfile(profile: SamplingProfile): SampleSummary {
  // Samples per node first: at interval 1 there is one per allocation, so the per-sample loop does
  // nothing but add up.
  const countAt = new Map<number, number>();
  const bytesAt = new Map<number, number>();
  profile.forEachSample((nodeId, size) => {
    countAt.set(nodeId, (countAt.get(nodeId) ?? 0) + 1);
    bytesAt.set(nodeId, (bytesAt.get(nodeId) ?? 0) + size);
  });

  let count = 0;
  const sites = new Map<string, SiteBytes>();
  const harnessNodes = new Set<number>();
  const walk = (node: ProfileNode, nearestScript: ProfileNode | null): void => {
    const script = isInternalUrl(node.callFrame.url) ? nearestScript : node;
    if (script !== null && harnessFiles.has(script.callFrame.url)) harnessNodes.add(node.id);
    else {
      const bytes = bytesAt.get(node.id);
      if (bytes !== undefined) {
        count += countAt.get(node.id) ?? 0;
        const frame = (script ?? node).callFrame;
        const functionName = frame.functionName || '(anonymous)';
        const location = frame.url === '' ? '(native)' : `${frame.url}:${frame.lineNumber + 1}:${frame.columnNumber + 1}`;
        const key = `${functionName}\u0000${location}`;
        const site = sites.get(key);
        if (site) site.bytes += bytes;
        else sites.set(key, { functionName, location, bytes });
      }
    }
    for (const child of node.children) walk(child, script);
  };
  walk(profile.head, null);

  // The call tree of the counted samples only, dropping paths that hold none. The tracker's own frames
  // (span, the measuring loop, ...) sit between the caller and the code it measures: they are left out
  // and their children joined to their parent, so the tree reads caller -> measured code.
  const addChild = (tree: CallTree, sub: CallTree): void => {
    const key = frameKey(sub.callFrame);
    const twin = tree.children.get(key);
    if (twin) mergeCallTree(twin, sub);
    else tree.children.set(key, sub);
  };
  // Node's own frames called by the tracker (AsyncLocalStorage.run between a span and the measured
  // function) go with it.
  const childrenOf = (node: ProfileNode, into: CallTree, belowHarness = false): void => {
    for (const child of node.children) {
      const harness = harnessFiles.has(child.callFrame.url);
      if (harness || (belowHarness && isInternalUrl(child.callFrame.url))) childrenOf(child, into, true);
      else {
        const sub = toTree(child);
        if (sub) addChild(into, sub);
      }
    }
  };
  const toTree = (node: ProfileNode): CallTree | null => {
    const tree: CallTree = {
      callFrame: { ...node.callFrame, scriptId: String(node.callFrame.scriptId) },
      selfSize: harnessNodes.has(node.id) ? 0 : (bytesAt.get(node.id) ?? 0),
      children: new Map(),
    };
    childrenOf(node, tree);
    return tree.selfSize > 0 || tree.children.size > 0 ? tree : null;
  };
  const tree = emptyCallTree();
  const head = toTree(profile.head);
  if (head) mergeCallTree(tree, head);
  return { count, sites, tree };
}
