import type { DeterminismStatus, EnvironmentFingerprint, PhaseRecord } from '../core/types.ts';
import { formatTable } from '../format/table.ts';

export interface ReportJSON {
  environment: EnvironmentFingerprint;
  determinism: DeterminismStatus;
  phases: PhaseRecord[];
}

/** The records of one session, printable as the per-phase table. */
export class Report {
  readonly records: readonly PhaseRecord[];
  readonly environment: EnvironmentFingerprint;
  readonly determinism: DeterminismStatus;

  constructor(records: readonly PhaseRecord[], environment: EnvironmentFingerprint, determinism: DeterminismStatus) {
    this.records = [...records].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.environment = environment;
    this.determinism = determinism;
  }

  toString(): string {
    if (this.records.length === 0) return 'No allocation statistics captured.\n';
    const table = formatTable(
      ['Operation', 'Mean bytes', 'Mean count'],
      this.records.map((r) => [r.name, String(r.bytes), r.countMethod === 'off' ? '-' : String(r.count)]),
      ['left', 'right', 'right'],
    );
    const notes: string[] = [];
    const overlapped = this.records.filter((r) => r.overlapped);
    if (overlapped.length > 0) {
      notes.push(
        `Note: ${overlapped.map((r) => r.name).join(', ')} overlapped with other phases in time; ` +
          "their figures include each other's allocations.",
      );
    }
    if (!this.determinism.deterministic) notes.push(`Note: ${this.determinism.warning}.`);
    return `Allocation statistics:\n\n${table}\n${notes.map((n) => `\n${n}`).join('')}${notes.length ? '\n' : ''}`;
  }

  toJSON(): ReportJSON {
    return { environment: this.environment, determinism: this.determinism, phases: [...this.records] };
  }
}
