/**
 * The plan of a dry run: every id with the action the real run would take, one NDJSON line each
 * (`{"action":"create","id":"...","version":...}`), streamed so a plan of a large table does not
 * sit in memory; plus up to 10 sample ids per action for the summary.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { PlannedBatch } from './planner.js';
import type { RunCounters } from './run-report.js';

const COUNTER = { create: 'created', update: 'updated', unchanged: 'unchanged', reject: 'failed' } as const;

/** `reject`: a row whose document could not be shaped (it would go to the failure ledger). */
export type PlanFileAction = 'create' | 'update' | 'unchanged' | 'reject' | 'delete' | 'missing';

export class PlanFile {
  private readonly stream: WriteStream | undefined;
  readonly samples: Record<PlanFileAction, string[]> = { create: [], update: [], unchanged: [], reject: [], delete: [], missing: [] };

  readonly path: string | undefined;

  constructor(path: string | undefined) {
    this.path = path;
    this.stream = path ? createWriteStream(path) : undefined;
  }

  async add(action: PlanFileAction, id: string, version?: number): Promise<void> {
    const s = this.samples[action];
    if (s.length < 10) s.push(id);
    if (this.stream && !this.stream.write(`${JSON.stringify({ action, id, version })}\n`)) await once(this.stream, 'drain');
  }

  /** A planned batch as a dry run takes it: counted as read and by action, each id listed. */
  async addBatch({ batch, planned }: PlannedBatch, counters: RunCounters): Promise<void> {
    counters.read += batch.records.length;
    for (const p of planned) {
      counters[COUNTER[p.action]] += 1;
      await this.add(p.action, p.record.id, p.version);
    }
  }

  async close(): Promise<void> {
    if (!this.stream) return;
    this.stream.end();
    await once(this.stream, 'finish');
  }
}
