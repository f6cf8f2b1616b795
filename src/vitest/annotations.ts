/**
 * Test annotations from the worker's hooks. Vitest's public `context.annotate()` refuses to run once
 * the test body has finished (the automatic gate judges phases in `afterEach`) and takes its location
 * from the caller's stack (our setup file, not the test). So this sends the annotation the way
 * `context.annotate()` itself does on Vitest 4.1 and 5: the worker's RPC `onTaskArtifactRecord` with
 * an `internal:annotation` artifact, which the main process stores on the test, copies attachments for
 * (`attachmentsDir`), and hands to every reporter (`onTestCaseAnnotate`: verbose, UI, HTML, JUnit,
 * github-actions, blob). Not a public API: when it is missing the annotation is skipped and the failure
 * message still says everything.
 */
import type { TaskLike } from './runtime.ts';

export interface AnnotationLocation {
  file: string;
  line: number;
  column: number;
}

export interface Annotation {
  message: string;
  /** Shown as the annotation's label (verbose reporter, UI); GitHub's reporter uses it as a title. */
  type: string;
  location?: AnnotationLocation;
  /** A file to attach (copied by Vitest into its attachments directory; the UI offers it for download). */
  attachment?: { path: string; contentType?: string };
}

interface WorkerRpcLike {
  onTaskArtifactRecord?: (testId: string, artifact: unknown) => Promise<unknown>;
}

function workerRpc(): WorkerRpcLike | null {
  const state = (globalThis as { __vitest_worker__?: { rpc?: unknown } }).__vitest_worker__;
  const rpc = state?.rpc as WorkerRpcLike | undefined;
  return typeof rpc?.onTaskArtifactRecord === 'function' ? rpc : null;
}

/** Whether this worker can annotate tests from hooks (Vitest 4.1 and 5: yes). */
export function canAnnotate(): boolean {
  return workerRpc() !== null;
}

/** The test's own line (Vitest's `task.location`, which the plugin switches on with includeTaskLocation). */
export function testLocation(task: TaskLike): AnnotationLocation | undefined {
  const location = (task as { location?: { line?: unknown; column?: unknown } }).location;
  const file = task.file?.filepath;
  if (!file || typeof location?.line !== 'number') return undefined;
  return { file, line: location.line, column: typeof location.column === 'number' ? location.column : 1 };
}

/** Record annotations on a test. Resolves when the main process has them; failures are swallowed. */
export async function annotate(task: TaskLike, annotations: readonly Annotation[]): Promise<void> {
  const rpc = workerRpc();
  if (!rpc || annotations.length === 0) return;
  for (const annotation of annotations) {
    const sent = { ...annotation, ...(annotation.attachment ? { attachment: { ...annotation.attachment } } : {}) };
    try {
      await rpc.onTaskArtifactRecord!(task.id, { type: 'internal:annotation', location: sent.location, annotation: sent });
    } catch {
      // An attachment that cannot be copied must not turn a clear failure into a crash.
    }
  }
}
