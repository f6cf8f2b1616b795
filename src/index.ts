/**
 * alloc-tracker: per-phase allocation accounting for Node.js.
 * This entry point has no Vitest dependency; the plugin lives in `alloc-tracker/vitest`.
 */
export { span, phase, measure, activeSession } from './core/span.ts';
export { Session } from './core/session.ts';
export { environmentFingerprint, determinismStatus, deterministicFlags, requiredFlags } from './core/environment.ts';
export { Report, type ReportJSON } from './core/report.ts';
export { formatBytes } from './format/table.ts';
export { parseByteSize } from './format/units.ts';
export type {
  AllocationSite,
  BytesMethod,
  CountMethod,
  CountUnit,
  DeterminismStatus,
  EnvironmentFingerprint,
  HeapProfile,
  HeapProfileNode,
  MeasureOptions,
  PhaseRecord,
  SessionOptions,
} from './core/types.ts';
