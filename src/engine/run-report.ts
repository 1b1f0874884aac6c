/**
 * The run report: counters of one run, printed as a summary and written as JSON.
 *
 *   read      rows read from the source
 *   indexed   documents written and acknowledged by the target
 *   unchanged documents the target already held at this version or newer (incl. 409 conflicts)
 *   failed    documents the target rejected (each one is in the failure ledger)
 */

export interface RunCounters {
  read: number;
  indexed: number;
  unchanged: number;
  failed: number;
}

export interface RunReport extends RunCounters {
  readonly pipeline: string;
  readonly mode: 'full';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** Rows read per second over the whole run. */
  readonly rowsPerSecond: number;
  /** True when the run was stopped before the end (signal). */
  readonly interrupted: boolean;
  readonly index: string;
  readonly indexCreated: boolean;
  readonly failureLedger: string | undefined;
}

export function emptyCounters(): RunCounters {
  return { read: 0, indexed: 0, unchanged: 0, failed: 0 };
}

/** One line per pipeline, for terminals and logs. */
export function summarise(r: RunReport): string {
  const secs = (r.durationMs / 1000).toFixed(1);
  const parts = [
    `${r.pipeline}: read ${r.read}`,
    `indexed ${r.indexed}`,
    `unchanged ${r.unchanged}`,
    `failed ${r.failed}`,
    `in ${secs}s (${Math.round(r.rowsPerSecond)} rows/s)`,
  ];
  let line = parts.join(', ');
  if (r.interrupted) line += ' [interrupted]';
  if (r.failed > 0 && r.failureLedger) line += `\n  failures written to ${r.failureLedger}`;
  return line;
}
