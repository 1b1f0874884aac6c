/**
 * The data of `cesync serve`'s status page (GET /api/status): per pipeline what `cesync status
 * --json` shows (last full sync, watermarks, lease holder, last verify), plus a running sync's ETA,
 * each watermark's lag and its history of the last hour (lag-sampler.ts), and the failure ledger's
 * counts by class and latest entries. Store-neutral: everything comes through the StateStore port
 * and the configuration; the ledger is read from its NDJSON file, only its last few MB.
 */
import { open } from 'node:fs/promises';
import type { Config, PipelineConfig } from '../config/schema.js';
import type { Direction, FailureClass, FailureEntry, PipelineState, StateStore, VerifySummary, Watermark } from '../engine/ports.js';
import { leaseName } from '../engine/watch.js';
import { directionsOf, lagSeconds, type LagSample, type LagSampler } from './lag-sampler.js';

/** Bytes read from the end of the failure ledger at most (default 4 MiB). */
export const LEDGER_TAIL_BYTES = 4 * 1024 * 1024;
/** Latest ledger entries shown per pipeline. */
export const LATEST_FAILURES = 10;

export interface WatermarkStatus extends Watermark {
  /** The watermark's version as a time, ISO 8601. */
  readonly at: string;
  readonly lagSeconds: number;
}

export interface PipelineStatus {
  // As in `cesync status --json`:
  readonly pipeline: string;
  readonly table: string;
  readonly index: string;
  readonly watchedBy: string | null;
  readonly direction: PipelineConfig['direction'];
  readonly watermarkToElasticsearch: WatermarkStatus | null;
  readonly watermarkToCassandra: WatermarkStatus | null;
  readonly status: PipelineState['status'] | 'never run';
  readonly startedAt: string | null;
  readonly updatedAt: string | null;
  readonly spansDone: number | null;
  readonly spansTotal: number | null;
  readonly counters: Readonly<Record<string, number>> | null;
  readonly error: string | null;
  readonly lastVerify: VerifySummary | null;
  /** Why the saved last verify could not be read (damaged), when it could not. */
  readonly lastVerifyError?: string;
  // Only here:
  /** A running full sync: token ranges done and an ETA from the rate since it started. */
  readonly progress: { readonly spansDone: number; readonly spansTotal: number; readonly fraction: number; readonly etaSeconds: number | null } | null;
  /** Lag samples of the last hour per direction the pipeline syncs, oldest first. */
  readonly lagHistory: Partial<Record<Direction, readonly LagSample[]>>;
  readonly failures: { readonly counts: Readonly<Record<FailureClass, number>>; readonly latest: readonly FailureEntry[] };
}

export interface StatusData {
  readonly generatedAt: string;
  readonly lagSampling: { readonly intervalSeconds: number; readonly windowSeconds: number } | null;
  /** What was read of the failure ledger: counts cover only these bytes when `truncated`. */
  readonly failureLedger: { readonly bytesRead: number; readonly truncated: boolean; readonly exists: boolean };
  readonly pipelines: readonly PipelineStatus[];
}

export interface StatusDeps {
  readonly config: Readonly<Config>;
  readonly state: StateStore;
  readonly lag?: LagSampler;
  readonly now?: () => Date;
  readonly ledgerTailBytes?: number;
}

const CLASSES: readonly FailureClass[] = ['mapping', 'rejected', 'transient', 'missing', 'shape'];

export async function buildStatus(deps: StatusDeps): Promise<StatusData> {
  const now = (deps.now ?? (() => new Date()))();
  const ledger = await readLedgerTail(deps.config.failureLedger, deps.ledgerTailBytes ?? LEDGER_TAIL_BYTES);
  const pipelines: PipelineStatus[] = [];
  for (const p of deps.config.pipelines) {
    const { state } = deps;
    const [s, toEs, toCql, holder, verify] = await Promise.all([
      state.load(p.name),
      state.loadWatermark(p.name, 'to-elasticsearch'),
      state.loadWatermark(p.name, 'to-cassandra'),
      state.leaseHolder(leaseName(p.name)),
      // A damaged saved verify is shown as such; it never hides the other figures.
      state.loadVerify(p.name).catch((e: unknown) => ({ damaged: (e as Error)?.message ?? String(e) }) as const),
    ]);
    const mine = ledger.entries.filter((e) => e.pipeline === p.name);
    const counts = Object.fromEntries(CLASSES.map((c) => [c, 0])) as Record<FailureClass, number>;
    for (const e of mine) counts[e.errorClass] = (counts[e.errorClass] ?? 0) + 1;
    const lagHistory: Partial<Record<Direction, readonly LagSample[]>> = {};
    if (deps.lag) for (const d of directionsOf(p.direction)) lagHistory[d] = deps.lag.history(p.name, d);
    pipelines.push({
      pipeline: p.name,
      table: `${p.keyspace}.${p.table}`,
      index: p.index,
      watchedBy: holder ?? null,
      direction: p.direction,
      watermarkToElasticsearch: markStatus(toEs, now),
      watermarkToCassandra: markStatus(toCql, now),
      status: s?.status ?? 'never run',
      startedAt: s?.startedAt ?? null,
      updatedAt: s?.updatedAt ?? null,
      spansDone: s ? s.spans.filter((x) => x.done).length : null,
      spansTotal: s ? s.spans.length : null,
      counters: s?.counters ?? null,
      error: s?.error ?? null,
      lastVerify: verify && !('damaged' in verify) ? verify : null,
      ...(verify && 'damaged' in verify ? { lastVerifyError: verify.damaged } : {}),
      progress: s?.status === 'running' ? progressOf(s, now) : null,
      lagHistory,
      failures: { counts, latest: mine.slice(-LATEST_FAILURES).reverse() },
    });
  }
  return {
    generatedAt: now.toISOString(),
    lagSampling: deps.lag ? { intervalSeconds: deps.lag.intervalMs / 1000, windowSeconds: deps.lag.windowMs / 1000 } : null,
    failureLedger: { bytesRead: ledger.bytesRead, truncated: ledger.truncated, exists: ledger.exists },
    pipelines,
  };
}

function markStatus(mark: Watermark | undefined, now: Date): WatermarkStatus | null {
  if (!mark) return null;
  return { ...mark, at: new Date(Math.floor(mark.version / 1000)).toISOString(), lagSeconds: Math.round(lagSeconds(mark, now.getTime())) };
}

/**
 * Ranges done of the total, and the seconds left at the rate of ranges done between the run's
 * start and its last saved progress (null until one range is done).
 */
export function progressOf(s: PipelineState, now: Date): NonNullable<PipelineStatus['progress']> {
  const spansTotal = s.spans.length;
  const spansDone = s.spans.filter((x) => x.done).length;
  const fraction = spansTotal === 0 ? 0 : spansDone / spansTotal;
  const elapsed = (Date.parse(s.updatedAt) - Date.parse(s.startedAt)) / 1000;
  let etaSeconds: number | null = null;
  if (spansDone > 0 && elapsed > 0) {
    const left = ((spansTotal - spansDone) * elapsed) / spansDone;
    // Time since the last save counts as spent on the ranges left.
    const sinceSave = Math.max(0, (now.getTime() - Date.parse(s.updatedAt)) / 1000);
    etaSeconds = Math.max(0, Math.round(left - sinceSave));
  }
  return { spansDone, spansTotal, fraction, etaSeconds };
}

interface LedgerTail {
  readonly entries: FailureEntry[];
  readonly bytesRead: number;
  readonly truncated: boolean;
  readonly exists: boolean;
}

/** The entries of the last `maxBytes` of the ledger (a cut first line and bad lines are skipped). */
export async function readLedgerTail(path: string, maxBytes: number): Promise<LedgerTail> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], bytesRead: 0, truncated: false, exists: false };
    throw cause;
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    if (length > 0) await handle.read(buffer, 0, length, size - length);
    const truncated = size > length;
    const lines = buffer.toString('utf8').split('\n');
    if (truncated) lines.shift();
    const entries: FailureEntry[] = [];
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const e = JSON.parse(line) as Partial<FailureEntry>;
        if (e && typeof e === 'object' && typeof e.pipeline === 'string' && typeof e.id === 'string' && CLASSES.includes(e.errorClass as FailureClass)) {
          entries.push({
            id: e.id,
            pipeline: e.pipeline,
            errorClass: e.errorClass as FailureClass,
            errorType: String(e.errorType ?? ''),
            reason: String(e.reason ?? ''),
            attempt: Number(e.attempt ?? 0),
            at: String(e.at ?? ''),
          });
        }
      } catch {
        // a line being written, or not cesync's: skipped
      }
    }
    return { entries, bytesRead: length, truncated, exists: true };
  } finally {
    await handle.close();
  }
}
