/**
 * Metrics of `cesync consume`, in the process's registry (docs/metrics.md lists them with the
 * Sunbird job counters each stands for). Labels: the consumer's name, and for the lag the topic
 * and partition; never event contents.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { BatchReport } from '../events/consume.js';

const BATCH_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export class ConsumeMetrics {
  readonly events: Counter<'consumer' | 'outcome'>;
  readonly deadLettered: Counter<'consumer'>;
  readonly rowsRead: Counter<'consumer'>;
  readonly rowsChanged: Counter<'consumer'>;
  readonly lookups: Counter<'consumer' | 'outcome'>;
  readonly documents: Counter<'consumer' | 'outcome'>;
  readonly batchDuration: Histogram<'consumer'>;
  readonly lag: Gauge<'consumer' | 'topic' | 'partition'>;
  readonly retries: Counter<'consumer'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.events = new Counter({ name: 'cesync_consume_events_total', help: 'Events read, by outcome: read (every event), applied, skipped, failed.', labelNames: ['consumer', 'outcome'], registers });
    this.deadLettered = new Counter({ name: 'cesync_consume_dead_lettered_total', help: 'Failed events written to the dead-letter topic.', labelNames: ['consumer'], registers });
    this.rowsRead = new Counter({ name: 'cesync_consume_rows_read_total', help: 'Rows read that hold an event value (replace-value), or ids named (sync-ids).', labelNames: ['consumer'], registers });
    this.rowsChanged = new Counter({ name: 'cesync_consume_rows_changed_total', help: 'Rows changed in the table (replace-value).', labelNames: ['consumer'], registers });
    this.lookups = new Counter({ name: 'cesync_consume_lookups_total', help: 'Rows an event requires, looked up: found, missing (absent or not matching).', labelNames: ['consumer', 'outcome'], registers });
    this.documents = new Counter({ name: 'cesync_consume_documents_total', help: 'Documents synced after the batches, by outcome: indexed, unchanged, deleted, missing, failed.', labelNames: ['consumer', 'outcome'], registers });
    this.batchDuration = new Histogram({ name: 'cesync_consume_batch_duration_seconds', help: 'Time to handle and commit one batch of events.', labelNames: ['consumer'], buckets: BATCH_BUCKETS, registers });
    this.lag = new Gauge({ name: 'cesync_consume_lag', help: 'Events of the partition not yet committed by this consumer (read every 10 s).', labelNames: ['consumer', 'topic', 'partition'], registers });
    this.retries = new Counter({ name: 'cesync_consume_retries_total', help: 'Batches handled again after a store did not answer.', labelNames: ['consumer'], registers });
  }

  batch(consumer: string, r: BatchReport): void {
    this.events.inc({ consumer, outcome: 'read' }, r.events.length);
    for (const outcome of ['applied', 'skipped', 'failed'] as const) {
      const n = r.outcomes.filter((o) => o.kind === outcome).length;
      if (n > 0) this.events.inc({ consumer, outcome }, n);
    }
    if (r.deadLettered > 0) this.deadLettered.inc({ consumer }, r.deadLettered);
    let read = 0;
    let changed = 0;
    for (const o of r.outcomes) {
      if (o.kind !== 'applied') continue;
      read += o.rowsRead;
      changed += o.rowsChanged;
    }
    if (read > 0) this.rowsRead.inc({ consumer }, read);
    if (changed > 0) this.rowsChanged.inc({ consumer }, changed);
    if (r.handled) {
      const { lookups, documents } = r.handled;
      if (lookups.found > 0) this.lookups.inc({ consumer, outcome: 'found' }, lookups.found);
      if (lookups.missing > 0) this.lookups.inc({ consumer, outcome: 'missing' }, lookups.missing);
      for (const [outcome, n] of Object.entries(documents)) if (n > 0) this.documents.inc({ consumer, outcome }, n);
    }
    this.batchDuration.observe({ consumer }, r.seconds);
  }

  setLag(consumer: string, lags: ReadonlyMap<string, number>): void {
    for (const [at, n] of lags) {
      const i = at.lastIndexOf(':');
      this.lag.set({ consumer, topic: at.slice(0, i), partition: at.slice(i + 1) }, n);
    }
  }
}
