/**
 * The engine's RunObserver (ports.ts) as Prometheus metrics: each call moves the metric of the
 * same meaning, labelled with the run's pipeline and direction. Never throws (prom-client only
 * throws on label names, which are fixed here).
 */
import type { Direction, FailureClass, OutcomeKind, RunObserver } from '../engine/ports.js';
import type { CesyncMetrics } from './metrics.js';

export class PrometheusRunObserver implements RunObserver {
  private readonly metrics: CesyncMetrics;
  private readonly labels: { readonly pipeline: string; readonly direction: Direction };

  constructor(metrics: CesyncMetrics, labels: { readonly pipeline: string; readonly direction: Direction }) {
    this.metrics = metrics;
    this.labels = labels;
  }

  rowsRead(n: number): void {
    this.metrics.rowsRead.inc(this.labels, n);
  }

  outcome(kind: OutcomeKind, n: number): void {
    this.metrics.documents.inc({ ...this.labels, outcome: kind }, n);
  }

  failure(errorClass: FailureClass): void {
    this.metrics.failures.inc({ ...this.labels, class: errorClass });
  }

  retry(what: 'request' | 'document', n: number): void {
    this.metrics.retries.inc({ ...this.labels, what }, n);
  }

  bulkRequest(durationSeconds: number, bytes: number): void {
    const pipeline = { pipeline: this.labels.pipeline };
    this.metrics.bulkDuration.observe(pipeline, durationSeconds);
    this.metrics.bulkBytes.inc(pipeline, bytes);
  }

  progress(fraction: number, etaSeconds: number | undefined): void {
    const pipeline = { pipeline: this.labels.pipeline };
    this.metrics.progressRatio.set(pipeline, fraction);
    // Unknown until some of the table was read: the series is left out rather than a guess.
    if (etaSeconds === undefined || !Number.isFinite(etaSeconds)) this.metrics.etaSeconds.remove(pipeline);
    else this.metrics.etaSeconds.set(pipeline, Math.max(0, etaSeconds));
  }

  watermark(direction: Direction, version: number): void {
    this.metrics.watermark(this.labels.pipeline, direction, version);
  }
}
