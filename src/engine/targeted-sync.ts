/**
 * Sync of given ids: read exactly those rows, plan them against the index, and apply the plan
 * unless it is a dry run or larger than the guard allows. Ids without a row are reported as
 * missing (ledger class `missing`); with `deleteMissing` their documents are deleted, guarded by
 * the version the index holds, so a document written meanwhile survives.
 */
import { applyPlanned } from './apply.js';
import { rereadFrom } from './reread.js';
import type { ParsedKeys } from './key-input.js';
import { PlanFile } from './plan-file.js';
import { planBatches, type PlannedBatch } from './planner.js';
import type { SyncDeps } from './full-sync.js';
import { emptyCounters, finishReport, type IdOutcome, type InputProblem, type RunMode, type RunReport } from './run-report.js';
import type { ThrottleOptions } from './throttle.js';
import { CesyncError } from '../errors.js';
import { fromArray } from '../streams/from-array.js';

/** The reason of an `unchanged` outcome whose write the target refused as older than what it holds. */
export const NEWER_IN_INDEX = 'the index holds a newer version';

export interface TargetedSyncOptions {
  readonly pipeline: string;
  readonly index: string;
  readonly mode?: RunMode;
  readonly input: ParsedKeys;
  readonly deleteMissing?: boolean;
  /** Ids to rewrite from their rows even if the index looks up to date (see planner.ts). */
  readonly force?: ReadonlySet<string>;
  /** Documents to delete as well, at most at these versions (repair: orphans whose id is no key). */
  readonly alsoDelete?: readonly { id: string; version: number }[];
  /** Refuse (before writing anything) a run that would change more documents than this. */
  readonly maxChanges?: number;
  readonly dryRun?: boolean;
  readonly planPath?: string;
  readonly failureLedgerPath?: string;
  readonly throttle?: ThrottleOptions;
  readonly signal?: AbortSignal;
  /** Ledger attempt number of these ids (retry: previous attempt + 1). */
  readonly attempt?: number;
  /** Return what happened to each requested id (`outcomes` of the report). */
  readonly collectOutcomes?: boolean;
}

export async function targetedSync(deps: Omit<SyncDeps, 'state'>, options: TargetedSyncOptions): Promise<RunReport> {
  const now = deps.now ?? Date.now;
  const started = now();
  const counters = emptyCounters();
  const { source, sink, failures } = deps;
  const { pipeline, input, signal, dryRun = false } = options;
  const problems: InputProblem[] = [...input.problems];
  counters.malformed = problems.filter((p) => p.kind === 'malformed').length;
  counters.duplicates = problems.filter((p) => p.kind === 'duplicate').length;

  // The index is created only once something is to be written to it (after the guard): a run
  // stopped by --max-changes, or with nothing to write, leaves the target as it found it.
  let target = await sink.prepare({ create: false });
  // Read and plan everything first: the guard must see the whole change before any write.
  const batches: PlannedBatch[] = [];
  const found = new Set<string>();
  // An interrupted read throws here (interrupt.ts): ids not read are never taken as missing.
  const reread = rereadFrom(source, signal);
  for await (const pb of planBatches(source.read(input.keys, { signal }), sink, { lookups: target.exists && !target.empty, force: options.force, reread })) {
    for (const p of pb.planned) found.add(p.record.id);
    batches.push(pb);
  }
  const missing = input.keys.filter((k) => !found.has(k.id));
  counters.missing = missing.length;
  for (const k of missing) problems.push({ line: input.lines.get(k.id) ?? 0, kind: 'missing', text: k.id, reason: 'no row with this key' });
  const deletes: { id: string; version: number; notBefore?: number }[] = [...(options.alsoDelete ?? [])];
  if (options.deleteMissing && missing.length > 0 && target.exists) {
    // The version the index holds is looked up first, then the rows are read once more: only ids
    // still without a row are deleted, and only at what the index held before that read. A row
    // written meanwhile is found by the second read; a document written after the lookup has a
    // newer version and survives the delete (see WriteOp 'delete').
    const stored = await sink.lookup(missing.map((k) => k.id));
    const decidedAt = (deps.now ?? Date.now)() * 1000;
    const still = await reread([...stored.keys()]);
    for (const [id, s] of stored) if (!still.has(id)) deletes.push({ id, version: s.version, notBefore: decidedAt });
  }
  const writes = batches.reduce((n, b) => n + b.planned.filter((p) => p.action === 'create' || p.action === 'update').length, 0);
  const changes = writes + deletes.length;

  // No prototype: an id such as "__proto__" is a key like any other.
  const outcomes: Record<string, IdOutcome> | undefined = options.collectOutcomes ? (Object.create(null) as Record<string, IdOutcome>) : undefined;
  if (outcomes) {
    for (const p of problems) outcomes[p.text] = { status: p.kind === 'duplicate' ? 'duplicate' : p.kind === 'missing' ? 'missing' : 'malformed', reason: p.reason };
    for (const b of batches) {
      for (const p of b.planned) {
        outcomes[p.record.id] =
          p.action === 'unchanged' ? (p.newerInTarget ? { status: 'unchanged', reason: NEWER_IN_INDEX } : { status: 'unchanged' }) : p.action === 'reject' ? { status: 'failed', reason: `${p.record.rejected!.errorType}: ${p.record.rejected!.reason}` } : { status: `planned-${p.action}` };
      }
    }
    for (const d of deletes) outcomes[d.id] = { status: 'planned-delete' };
  }

  const report = (extra: Partial<RunReport> = {}): RunReport =>
    finishReport({
      pipeline,
      mode: options.mode ?? 'ids',
      dryRun,
      counters,
      started,
      finished: now(),
      signal,
      index: options.index,
      indexCreated: target.created,
      failureLedger: !dryRun && (counters.failed > 0 || (counters.missing > 0 && !options.deleteMissing)) ? options.failureLedgerPath : undefined,
      inputProblems: problems.sort((a, b) => a.line - b.line),
      outcomes,
      ...extra,
    });

  if (dryRun) {
    const plan = new PlanFile(options.planPath);
    try {
      for (const pb of batches) await plan.addBatch(pb, counters);
      for (const d of deletes) await plan.add('delete', d.id, d.version);
      const deleted = new Set(deletes.map((d) => d.id));
      for (const k of missing) if (!deleted.has(k.id)) await plan.add('missing', k.id);
    } finally {
      await plan.close();
    }
    counters.deleted = deletes.length;
    await failures.close();
    return report({ planFile: plan.path, samples: plan.samples });
  }

  if (options.maxChanges !== undefined && changes > options.maxChanges) {
    await failures.close();
    throw new CesyncError(
      'GUARD',
      `${pipeline}: this sync would change ${changes} documents (${writes} writes, ${deletes.length} deletes), more than --max-changes ${options.maxChanges}; nothing was written. Check it with --dry-run, then pass --yes (or a larger --max-changes) to go on.`,
    );
  }

  try {
    if (!options.deleteMissing) {
      for (const k of missing) {
        failures.record({
          id: k.id,
          pipeline,
          errorClass: 'missing',
          errorType: 'row_not_found',
          reason: 'no row with this key in the source',
          attempt: options.attempt ?? 1,
          at: new Date(now()).toISOString(),
        });
      }
    }
    if (!target.exists && writes > 0) target = await sink.prepare({ create: true });
    await applyPlanned(fromArray(batches), deletes, {
      pipeline,
      sink,
      failures,
      counters,
      throttle: options.throttle,
      clock: deps.clock,
      signal,
      now,
      attempt: options.attempt,
      reread,
      observer: deps.observer,
      onBatch: () => deps.onProgress?.(counters, input.keys.length),
      onOutcome: outcomes
        ? (op, o) => {
            outcomes[op.id] =
              o.kind === 'written'
                ? { status: 'indexed' }
                : o.kind === 'deleted'
                  ? { status: 'deleted' }
                  : o.kind === 'conflict'
                    ? { status: 'unchanged', reason: NEWER_IN_INDEX }
                    : { status: 'failed', reason: `${o.errorType}: ${o.reason}` };
          }
        : undefined,
    });
    await sink.refresh();
  } finally {
    await failures.close();
  }
  return report();
}
