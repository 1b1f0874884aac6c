/**
 * cesync's Prometheus metrics: their definitions in one registry (docs/metrics.md lists them).
 * Names follow Prometheus' conventions: one `cesync_` prefix, base units, `_total` for counters.
 * Labels carry only pipeline names, directions and classes: never document contents or ids.
 *
 * One `CesyncMetrics` per process (or per test, with a fresh registry). Runs report through
 * observers made by `observer()` (run-observer.ts); the watch reports leases, verify and repair
 * their differences, through the methods here.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Direction } from '../engine/ports.js';
import { PrometheusRunObserver } from './run-observer.js';

/** How often the last verifies are read again from the state store (followVerifies). */
const VERIFY_REFRESH_MS = 5000;

/** Seconds: from a quick bulk request on loopback to one that waits on a node restarting. */
const BULK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsOptions {
  /** Where the metrics are registered (default: a registry of their own, not prom-client's global one). */
  readonly registry?: Registry;
  /** Also prom-client's default process and Node.js metrics (default true). */
  readonly defaultMetrics?: boolean;
  /** Milliseconds since the epoch, for the lag (tests pass a clock). */
  readonly now?: () => number;
}

export class CesyncMetrics {
  readonly registry: Registry;
  readonly now: () => number;
  readonly rowsRead: Counter<'pipeline' | 'direction'>;
  readonly documents: Counter<'pipeline' | 'direction' | 'outcome'>;
  readonly failures: Counter<'pipeline' | 'direction' | 'class'>;
  readonly retries: Counter<'pipeline' | 'direction' | 'what'>;
  readonly bulkDuration: Histogram<'pipeline'>;
  readonly bulkBytes: Counter<'pipeline'>;
  readonly progressRatio: Gauge<'pipeline'>;
  readonly etaSeconds: Gauge<'pipeline'>;
  readonly lagSeconds: Gauge<'pipeline' | 'direction'>;
  readonly leaseHeldGauge: Gauge<'pipeline'>;
  readonly verifyDifferencesGauge: Gauge<'pipeline' | 'class'>;
  /** The latest saved watermark (microseconds) per pipeline and direction; the lag is computed from it at each scrape. */
  private readonly watermarks = new Map<string, { pipeline: string; direction: Direction; version: number }>();

  constructor(options: MetricsOptions = {}) {
    const registers = [(this.registry = options.registry ?? new Registry())];
    this.now = options.now ?? Date.now;
    this.rowsRead = new Counter({ name: 'cesync_rows_read_total', help: 'Rows read from the source and handed on to be written (towards Cassandra: documents read from the index).', labelNames: ['pipeline', 'direction'], registers });
    this.documents = new Counter({ name: 'cesync_documents_total', help: 'Documents settled, by outcome: created, updated, unchanged, failed, deleted.', labelNames: ['pipeline', 'direction', 'outcome'], registers });
    this.failures = new Counter({ name: 'cesync_failures_total', help: 'Entries of the failure ledger, by class: mapping, rejected, transient, missing, shape.', labelNames: ['pipeline', 'direction', 'class'], registers });
    this.retries = new Counter({ name: 'cesync_retries_total', help: 'Sent again after a transient refusal: what="request" whole bulk requests, what="document" documents.', labelNames: ['pipeline', 'direction', 'what'], registers });
    this.bulkDuration = new Histogram({ name: 'cesync_bulk_request_duration_seconds', help: 'Duration of each bulk request to the search cluster (each attempt).', labelNames: ['pipeline'], buckets: BULK_BUCKETS, registers });
    this.bulkBytes = new Counter({ name: 'cesync_bulk_bytes_total', help: 'Bytes of bulk request bodies sent to the search cluster (each attempt).', labelNames: ['pipeline'], registers });
    this.progressRatio = new Gauge({ name: 'cesync_full_sync_progress_ratio', help: 'Share of the table read by the running (or last) full sync, 0 to 1.', labelNames: ['pipeline'], registers });
    this.etaSeconds = new Gauge({ name: 'cesync_full_sync_eta_seconds', help: 'Estimated seconds left of the running full sync (0 once finished).', labelNames: ['pipeline'], registers });
    const watermarks = this.watermarks;
    const now = this.now;
    this.lagSeconds = new Gauge({
      name: 'cesync_incremental_lag_seconds',
      help: "Now minus the time of the pipeline's saved watermark in this direction (from the latest step or run of this process).",
      labelNames: ['pipeline', 'direction'],
      registers,
      collect() {
        for (const w of watermarks.values()) this.set({ pipeline: w.pipeline, direction: w.direction }, Math.max(0, now() / 1000 - w.version / 1e6));
      },
    });
    this.leaseHeldGauge = new Gauge({ name: 'cesync_lease_held', help: "1 while this watcher holds the pipeline's lease, else 0.", labelNames: ['pipeline'], registers });
    this.verifyDifferencesGauge = new Gauge({
      name: 'cesync_verify_differences',
      help: "Differences found by the pipeline's last verify (or repair), by class: missing, orphan, stale, different.",
      labelNames: ['pipeline', 'class'],
      registers,
    });
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** An observer for one run of one pipeline in one direction. */
  observer(labels: { readonly pipeline: string; readonly direction: Direction }): PrometheusRunObserver {
    return new PrometheusRunObserver(this, labels);
  }

  /** Records a saved watermark (microseconds); the lag follows from it at each scrape. */
  watermark(pipeline: string, direction: Direction, version: number): void {
    this.watermarks.set(`${direction}\u0000${pipeline}`, { pipeline, direction, version });
  }

  leaseHeld(pipeline: string, held: boolean): void {
    this.leaseHeldGauge.set({ pipeline }, held ? 1 : 0);
  }

  /**
   * Follows the last verify of these pipelines, wherever it ran (`verify` and `repair` are
   * commands of their own): `load` reads it from the state store now and every `everyMs`, in the
   * background, so a scrape only reads memory (it never waits on a store, and an unauthenticated
   * scrape never makes the store work). A load that fails leaves the last value. Returns the stop.
   */
  followVerifies(
    pipelines: readonly string[],
    load: (pipeline: string) => Promise<{ readonly counts: Readonly<Record<string, number>> } | undefined>,
    everyMs = VERIFY_REFRESH_MS,
  ): () => void {
    const refresh = () =>
      void Promise.all(
        pipelines.map((p) =>
          load(p).then(
            (last) => last && this.verifyDifferences(p, last.counts),
            () => undefined,
          ),
        ),
      );
    refresh();
    const timer = setInterval(refresh, everyMs);
    timer.unref(); // never what keeps the process alive
    return () => clearInterval(timer);
  }

  /** The counts per class of a verify (or of the verify a repair starts with). */
  verifyDifferences(pipeline: string, counts: Readonly<Record<string, number>>): void {
    for (const [cls, n] of Object.entries(counts)) this.verifyDifferencesGauge.set({ pipeline, class: cls }, n);
  }
}
