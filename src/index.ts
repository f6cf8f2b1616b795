/**
 * alloc-tracker: per-phase allocation accounting for Node.js.
 * This entry point has no Vitest dependency; the plugin lives in `alloc-tracker/vitest`.
 */
export { span, phase, activeSession, Session, Operation } from './core/session.ts';
export { environmentFingerprint, determinismStatus, requiredFlags } from './core/environment.ts';
export { Report, type ReportJSON } from './core/report.ts';
export { formatBytes } from './format/table.ts';
export type {
  AllocationSite,
  CountMethod,
  DeterminismStatus,
  EnvironmentFingerprint,
  HeapProfile,
  HeapProfileNode,
  MeasureOptions,
  PhaseRecord,
  SessionOptions,
} from './core/types.ts';
export { parseByteSize } from './format/units.ts';
