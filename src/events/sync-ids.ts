/**
 * The "sync ids" handler: an event names ids of a pipeline's documents (Sunbird's
 * `{"objectType":"user","objectIds":[...]}`, or `object.id`); the ids of a whole batch are synced
 * together, as `cesync sync --ids` does. Versioned writes make a batch handled twice change nothing
 * the second time.
 */
import type { SyncIdsConfig } from '../config/consumer-schema.js';
import { parseEventPath, valuesAt } from './event-path.js';
import { NO_DOCUMENTS, type EventHandler, type EventOutcome, type HandledBatch, type ParsedEvent } from './handler.js';
import type { SyncIds } from './ports.js';
import { compileWhen } from './when.js';

export function syncIdsHandler(config: SyncIdsConfig, syncIds: SyncIds): EventHandler {
  const paths = config.ids.map((text) => [text, parseEventPath(text)] as const);
  const when = compileWhen(config.when);
  return {
    kind: 'sync-ids',
    async handle(events: readonly ParsedEvent[], { dryRun, signal }): Promise<HandledBatch> {
      const outcomes: EventOutcome[] = [];
      const ids = new Set<string>();
      const planned = dryRun ? new Map<number, { rows: []; documents: string[] }>() : undefined;
      for (const [i, { body }] of events.entries()) {
        const skip = when(body);
        if (skip) {
          outcomes.push({ kind: 'skipped', reason: skip });
          continue;
        }
        const named: string[] = [];
        let bad: string | undefined;
        for (const [text, path] of paths) {
          for (const v of valuesAt(body, path).flat()) {
            if (typeof v === 'string' && v !== '') named.push(v);
            else if (typeof v === 'number' && Number.isFinite(v)) named.push(String(v));
            else bad ??= `${text} holds ${JSON.stringify(v)}, not an id (a string or a number)`;
          }
        }
        if (bad || named.length === 0) {
          outcomes.push({ kind: 'failed', reason: bad ?? `the event names no id at ${config.ids.join(', ')}` });
          continue;
        }
        for (const id of named) ids.add(id);
        planned?.set(i, { rows: [], documents: named });
        outcomes.push({ kind: 'applied', rowsChanged: 0, rowsRead: named.length });
      }
      if (dryRun || ids.size === 0) return { outcomes, documents: NO_DOCUMENTS, lookups: { found: 0, missing: 0 }, planned };
      const documents = await syncIds([...ids].map((id) => [id]), { dryRun: false, signal });
      return { outcomes, documents, lookups: { found: 0, missing: 0 } };
    },
  };
}
