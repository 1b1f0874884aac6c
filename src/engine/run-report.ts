/**
 * The run report: counters of one run, printed as a summary and written as JSON.
 *
 *   read       rows read from the source
 *   indexed    documents written and acknowledged by the target (created + updated)
 *   unchanged  documents the target already held at this version or newer (incl. 409 conflicts)
 *   failed     documents the target rejected (each one is in the failure ledger)
 *   deleted    documents deleted (targeted sync with --delete-missing)
 *   missing    requested ids without a row in the source
 *   malformed, duplicates   requested ids that could not be used / were given twice
 *
 * In a dry run, `created`, `updated` and `unchanged` are what the run would do; nothing is written.
 */

import type { Watermark } from './ports.js';

export interface RunCounters {
  read: number;
  indexed: number;
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  deleted: number;
  missing: number;
  malformed: number;
  duplicates: number;
}

export type RunMode = 'full' | 'ids' | 'retry' | 'repair' | 'incremental' | 'pending';

export interface RunReport extends RunCounters {
  readonly pipeline: string;
  readonly mode: RunMode;
  /** Which way the run went (to-elasticsearch unless said otherwise). */
  readonly direction?: 'to-elasticsearch' | 'to-cassandra';
  readonly dryRun: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** Rows read per second over the whole run. */
  readonly rowsPerSecond: number;
  /** True when the run was stopped before the end (signal). */
  readonly interrupted: boolean;
  /** Full sync: token spans skipped because an earlier, interrupted run had finished them. */
  readonly resumedSpans: number;
  readonly totalSpans: number;
  readonly index: string;
  readonly indexCreated: boolean;
  readonly failureLedger: string | undefined;
  /** Dry run: the file that lists every id per action. */
  readonly planFile: string | undefined;
  /** Dry run: up to 10 ids per action. */
  readonly samples: Readonly<Record<string, readonly string[]>> | undefined;
  /** Targeted sync: problems with the requested ids, with their line numbers. */
  readonly inputProblems: readonly InputProblem[];
  /** Incremental sync: the window of versions (microseconds), how changes were found, the watermark reached. */
  readonly window?: { readonly from: Watermark; readonly to: number };
  readonly changeDetection?: 'change-column' | 'scan';
  readonly watermark?: Watermark;
  /**
   * Incremental sync: the window ended early, at the start (ISO 8601) of a transaction still open
   * in the source (its rows, once committed, are read by a later run).
   */
  readonly heldBackSince?: string;
  /** Targeted sync with `collectOutcomes`: what happened to each requested id. */
  readonly outcomes?: Readonly<Record<string, IdOutcome>>;
}

export interface IdOutcome {
  readonly status: 'indexed' | 'unchanged' | 'failed' | 'missing' | 'deleted' | 'malformed' | 'duplicate' | 'planned-create' | 'planned-update' | 'planned-delete';
  readonly reason?: string;
}

export interface InputProblem {
  readonly line: number;
  readonly kind: 'malformed' | 'duplicate' | 'missing';
  readonly text: string;
  readonly reason: string;
}

/** The report of a finished run: timings derived, optional parts defaulted. */
export function finishReport(
  r: Pick<RunReport, 'pipeline' | 'mode' | 'dryRun' | 'index' | 'indexCreated' | 'failureLedger'> &
    Partial<RunReport> & { counters: RunCounters; started: number; finished: number; signal?: AbortSignal },
): RunReport {
  const { counters, started, finished, signal, ...rest } = r;
  const durationMs = finished - started;
  return {
    ...counters,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date(finished).toISOString(),
    durationMs,
    rowsPerSecond: durationMs > 0 ? (counters.read * 1000) / durationMs : counters.read,
    interrupted: signal?.aborted ?? false,
    resumedSpans: 0,
    totalSpans: 0,
    planFile: undefined,
    samples: undefined,
    inputProblems: [],
    ...rest,
  };
}

export function emptyCounters(): RunCounters {
  return { read: 0, indexed: 0, created: 0, updated: 0, unchanged: 0, failed: 0, deleted: 0, missing: 0, malformed: 0, duplicates: 0 };
}

/** A few lines per pipeline, for terminals and logs. */
export function summarise(r: RunReport): string {
  const secs = (r.durationMs / 1000).toFixed(1);
  const parts = r.dryRun
    ? [`${r.pipeline} (dry run, nothing written): read ${r.read}`, `would create ${r.created}`, `update ${r.updated}`, `leave unchanged ${r.unchanged}`]
    : r.direction === 'to-cassandra'
      ? [`${r.pipeline} (to Cassandra): read ${r.read}`, `written ${r.indexed}`, `echoes ${r.unchanged}`, `failed ${r.failed}`]
      : [`${r.pipeline}: read ${r.read}`, `indexed ${r.indexed}`, `unchanged ${r.unchanged}`, `failed ${r.failed}`];
  if (r.mode !== 'full') {
    parts.push(r.dryRun ? `delete ${r.deleted}` : `deleted ${r.deleted}`, `missing ${r.missing}`, `malformed ${r.malformed}`, `duplicates ${r.duplicates}`);
  }
  let line = `${parts.join(', ')} in ${secs}s (${Math.round(r.rowsPerSecond)} rows/s)`;
  if (r.window) {
    const t = (v: number) => (v > 0 ? new Date(Math.floor(v / 1000)).toISOString() : 'the beginning');
    line += `\n  changes after ${t(r.window.from.version)} up to ${t(r.window.to)}, found by ${r.changeDetection === 'scan' ? 'a scan of keys and write times' : 'the change column index'}`;
  }
  if (r.heldBackSince) line += `\n  held back by a transaction open since ${r.heldBackSince} (pg_stat_activity shows it): later changes wait until it ends`;
  if (r.resumedSpans > 0) line += `\n  resumed: ${r.resumedSpans} of ${r.totalSpans} ranges were already done`;
  if (r.interrupted) line += '\n  interrupted: progress is saved, the next run resumes';
  for (const p of r.inputProblems.slice(0, 20)) line += `\n  line ${p.line}: ${p.kind} ${JSON.stringify(shorten(p.text))}: ${p.reason}`;
  if (r.inputProblems.length > 20) line += `\n  ... and ${r.inputProblems.length - 20} more (see --report)`;
  if (r.samples) {
    for (const [action, ids] of Object.entries(r.samples)) if (ids.length) line += `\n  ${action}: ${ids.join(', ')}${ids.length === 10 ? ', ...' : ''}`;
  }
  if (r.planFile) line += `\n  every id per action: ${r.planFile}`;
  if (r.failed > 0 && r.failureLedger) line += `\n  failures written to ${r.failureLedger}`;
  return line;
}

/** A text cut to a line's worth for summaries (the report file keeps it whole). */
function shorten(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}... (${text.length} characters)` : text;
}
