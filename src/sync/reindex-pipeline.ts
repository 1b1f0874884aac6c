/**
 * Rebuild of a pipeline's index behind its alias, while the index in use keeps serving:
 *
 *   1. fill   a new generation `<alias>-00000N` with the pipeline's current mapping and settings,
 *             by a full sync (resumable: its span progress is saved under `<pipeline>@<index>`,
 *             tuned for a bulk load);
 *   2. catch up with the changes made meanwhile (the pipeline's incremental path from the
 *             fill's start minus the safety lag, until a pass finds little; a second full pass
 *             where the source has no incremental path);
 *   3. check  verify the new index against the table and repair what differs, guarded by
 *             --max-changes; a new index that refuses documents is not swapped in;
 *   4. swap   the alias in one atomic `_aliases` request (a compare-and-swap: it fails if the alias
 *             moved meanwhile);
 *   5. carry  what writers (watch, serve, sync) put into the old index around the swap: once the
 *             safety lag has passed the swap, the catch-up runs again (and, two-way, documents
 *             changed in the old index are carried back to the table first), then a verify and
 *             repair of the alias, which also applies deletes made during the rebuild;
 *   6. prune  old generations beyond the pipeline's `reindex.keep`, once older than `keepForMs`.
 *
 * Every step is idempotent (versioned writes) and its progress is on the servers: the rebuilt
 * index records its rebuild in its mapping's `_meta` (index-generations.ts), so a run stopped
 * anywhere (a signal, kill -9, a store down) is continued by the next: before the swap, the
 * alias position is the truth; a rebuild found unfinished behind the alias goes on with step 5.
 * A lease (`reindex:<pipeline>`) keeps a second rebuild of the same pipeline out.
 */
import { readFile } from 'node:fs/promises';
import type { PipelineConfig } from '../config/schema.js';
import { incrementalSync } from '../engine/incremental-sync.js';
import { throwIfInterrupted } from '../engine/interrupt.js';
import type { FailureSink, RecordSource, RunObserver } from '../engine/ports.js';
import type { RunCounters, RunReport } from '../engine/run-report.js';
import { verify, type VerifyReport } from '../engine/verify.js';
import { START } from '../engine/watermark.js';
import { CesyncError } from '../errors.js';
import type { IndexInfo } from '../search-index/api.js';
import { generationOf, nextGeneration, recordOf, shapeDigest, withRecord, type ReindexRecord } from '../search-index/index-generations.js';
import { SearchIndexInspector } from '../search-index/index-inspector.js';
import { META_FIELD } from '../search-index/index-sink.js';
import type { Stores } from './stores.js';
import { fullSyncOpened, openPipeline, pipelineSink, syncPipelineToCassandra, windowOf, type OpenedPipeline } from './sync-pipeline.js';
import { repairPipeline, verifyPipeline } from './verify-pipeline.js';

export interface ReindexOptions {
  /** A failure ledger for each step (every engine run closes the one it is given). */
  readonly failures: () => FailureSink;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
  /** Who takes the lease (host and pid). */
  readonly owner: string;
  /** Told each step as a line of text. */
  readonly say: (line: string) => void;
  /** Progress of the fill. */
  readonly onProgress?: (counters: Readonly<RunCounters>, estimatedTotal: number | undefined) => void;
  readonly observer?: RunObserver;
  /** Most documents a repair of the new index may change (undefined: no limit). */
  readonly maxChanges?: number;
  /** false: build, catch up and check, but leave the alias where it is (a later run swaps). */
  readonly swap?: boolean;
  /** Drop an unfinished rebuild and start a new one. */
  readonly restart?: boolean;
  readonly leaseTtlMs?: number;
  /** Verify content too (every document against its row), not only versions (see verify --content). */
  readonly content?: boolean;
  readonly now?: () => number;
}

export interface ReindexReport {
  readonly pipeline: string;
  readonly alias: string;
  /** Where the alias was when the rebuild began (null: a record that names no index before it). */
  readonly previous: string | null;
  readonly index: string;
  readonly resumed: boolean;
  readonly swapped: boolean;
  /** Why the new index was not swapped in (it refused documents, --no-swap). */
  readonly notSwapped?: string;
  /** Documents the new index refused (then it is not swapped in). */
  readonly refused?: number;
  readonly fill?: Pick<RunReport, 'read' | 'indexed' | 'failed' | 'durationMs' | 'resumedSpans' | 'totalSpans'>;
  readonly catchUp: { readonly passes: number; readonly read: number; readonly indexed: number; readonly method: 'incremental' | 'second pass' };
  readonly check?: { readonly rounds: number; readonly inSync: boolean; readonly repaired: number; readonly remaining: number };
  readonly afterSwap?: { readonly read: number; readonly indexed: number; readonly carriedBack: number; readonly repaired: number; readonly inSync: boolean };
  readonly documents?: { readonly table: number | undefined; readonly index: number };
  readonly deleted: readonly string[];
  readonly startedAt: string;
  readonly durationMs: number;
}

const LEASE_TTL_MS = 30_000;
/** Catch-up passes before the check; each pass is as long as the changes the one before left. */
const CATCH_UP_PASSES = 4;
/** Verify rounds (each followed by a repair of what it found) before the swap. */
const CHECK_ROUNDS = 3;

export const reindexLease = (pipeline: string) => `reindex:${pipeline}`;

/** The state-store name of one rebuild's own progress (fill checkpoints, catch-up watermark). */
export const buildKey = (pipeline: string, index: string) => `${pipeline}@${index}`;

export async function reindexPipeline(stores: Stores, pipeline: PipelineConfig, options: ReindexOptions): Promise<ReindexReport> {
  const now = options.now ?? Date.now;
  const started = now();
  return withLease(stores, pipeline, options, async (signal) => {
    const api = stores.target;
    const alias = pipeline.index;
    const current = await aliasTarget(stores, pipeline);
    const opened = await openPipeline(stores, pipeline, options.observer);
    const shape = await pipelineShape(pipeline, opened.mapping);
    const generations = await generationsOf(stores, alias);

    // A rebuild swapped in whose last steps did not run: finish it.
    const serving = generations.find((g) => g.index === current);
    if (serving?.record && serving.record.state !== 'done') {
      options.say(`${pipeline.name}: ${current} was swapped in behind ${alias} by a rebuild that did not finish; carrying the changes made around the swap`);
      const afterSwap = await afterSwapSteps(stores, pipeline, opened, current, serving.record, { ...options, failures: () => underName(options.failures(), pipeline.name), signal });
      const deleted = await prune(stores, pipeline, options);
      return { pipeline: pipeline.name, alias, previous: serving.record.previous, index: current, resumed: true, swapped: true, catchUp: { passes: 0, read: 0, indexed: 0, method: 'incremental' }, afterSwap, deleted, startedAt: new Date(started).toISOString(), durationMs: now() - started };
    }

    // An unfinished rebuild from the index in use (not done, not serving; a run stopped between
    // marking it swapped and moving the alias leaves it so too): continued, unless it was built
    // for another shape (the pipeline changed since) or a restart is asked for. Other unfinished
    // rebuilds never served: they are dropped.
    let build = generations.find((g) => g.index !== current && g.record && g.record.state !== 'done' && g.record.previous === current);
    for (const g of generations) {
      if (g.index === current || !g.record || g.record.state === 'done') continue;
      if (g === build && g.record.shape === shape && !options.restart) continue;
      const why =
        g.record.previous !== current
          ? `it was begun from ${g.record.previous ?? 'no index'}, not from ${current}`
          : g !== build
            ? `${build?.index} is the rebuild from ${current} that goes on`
            : options.restart
              ? 'a restart was asked for'
              : 'the pipeline changed since it began';
      options.say(`${pipeline.name}: dropping the unfinished rebuild ${g.index} (${why})`);
      await api.deleteIndex(g.index);
      if (g === build) build = undefined;
    }
    const resumed = build !== undefined;
    const index = build?.index ?? nextGeneration(alias, [...generations.map((g) => g.index), current]);
    const { swappedAt: _never, ...begun } = build?.record ?? ({} as Partial<ReindexRecord>);
    const record: ReindexRecord = build ? ({ ...begun, state: 'building' } as ReindexRecord) : {
      alias,
      previous: current,
      state: 'building',
      startedAt: new Date(now()).toISOString(),
      shape,
      ...(pipeline.direction === 'both' ? { backFrom: ((await stores.state.loadWatermark(pipeline.name, 'to-cassandra')) ?? START).version } : {}),
    };
    const key = buildKey(pipeline.name, index);
    const derived: PipelineConfig = { ...pipeline, name: key, index, alias: false };
    const mapping = { ...opened.mapping, _meta: withRecord(opened.mapping._meta as Record<string, unknown> | undefined, record) };
    const building: OpenedPipeline = { ...opened, sink: pipelineSink(stores, derived, mapping, options.observer) };
    const run = { failureLedgerPath: options.failureLedgerPath, signal, observer: options.observer };
    // Documents refused on the way are kept under the pipeline's own name (cesync retry knows it).
    const failures = () => underName(options.failures(), pipeline.name);
    const steps: StepOptions = { ...options, failures, signal };

    // 1. Fill. Saved progress counts only when it is this build's (an index of the same name
    // built and dropped before left its own under the same key).
    let fill: ReindexReport['fill'];
    const saved = await stores.state.load(key);
    const ours = saved !== undefined && Date.parse(saved.startedAt) >= Date.parse(record.startedAt);
    if (ours && saved.status === 'finished') {
      options.say(`${pipeline.name}: ${index} was filled by an earlier run; catching up`);
    } else {
      options.say(`${pipeline.name}: ${ours ? 'continuing to fill' : 'filling'} ${index} (alias ${alias} stays on ${current} meanwhile)`);
      const r = await fullSyncOpened(stores, building, derived, { ...run, failures: failures(), onProgress: options.onProgress, restart: !ours });
      throwIfInterrupted(signal, `the fill of ${index}`);
      fill = { read: r.read, indexed: r.indexed, failed: r.failed, durationMs: r.durationMs, resumedSpans: r.resumedSpans, totalSpans: r.totalSpans };
      // The catch-up starts where the fill began (minus the safety lag), whatever a watermark of
      // an earlier index of this name said.
      const filled = await stores.state.load(key);
      if (filled?.watermarkFrom !== undefined) await stores.state.saveWatermark(key, 'to-elasticsearch', { version: filled.watermarkFrom, id: '' });
    }
    const base = { pipeline: pipeline.name, alias, previous: current, index, resumed, fill, deleted: [] as string[], startedAt: new Date(started).toISOString() };
    if (fill && fill.failed > 0) {
      return { ...base, swapped: false, refused: fill.failed, notSwapped: `${index} refused ${fill.failed} documents (see the failure ledger${options.failureLedgerPath ? ` ${options.failureLedgerPath}` : ''}); the alias stays on ${current}`, catchUp: { passes: 0, read: 0, indexed: 0, method: 'incremental' }, durationMs: now() - started };
    }

    // 2. Catch up.
    const catchUp = await catchUpWith(stores, derived, building, steps);
    if (catchUp.failed > 0) {
      return { ...base, swapped: false, refused: catchUp.failed, notSwapped: `${index} refused ${catchUp.failed} documents while catching up; the alias stays on ${current}`, catchUp, durationMs: now() - started };
    }

    // 3. Check.
    const check = await checkIndex(stores, pipeline, derived, building, steps, catchUp.carriedTo);
    const documents = { table: await opened.source.estimateCount(), index: await api.count(index) };
    if (check.failed > 0) {
      return { ...base, swapped: false, refused: check.failed, notSwapped: `${index} refused ${check.failed} documents of the repair; the alias stays on ${current}`, catchUp, check, documents, durationMs: now() - started };
    }
    if (options.swap === false) {
      return { ...base, swapped: false, notSwapped: `--no-swap: ${index} is built and checked; a run without --no-swap catches up again and swaps it in`, catchUp, check, documents, durationMs: now() - started };
    }

    // 4. Swap: never after a stop. The record says so first, so a run stopped right after the
    // move knows when it was.
    throwIfInterrupted(signal, `the check of ${index}`);
    const swappedRecord: ReindexRecord = { ...record, state: 'swapped', swappedAt: new Date(now()).toISOString() };
    await api.putMappingMeta(index, withRecord(await api.mappingMeta(index), swappedRecord));
    throwIfInterrupted(signal, `the check of ${index}`);
    await moveAlias(stores, alias, current, index);
    options.say(`${pipeline.name}: alias ${alias} moved from ${current} to ${index}`);

    // 5. Carry what reached the old index around the swap.
    const afterSwap = await afterSwapSteps(stores, pipeline, opened, index, swappedRecord, steps);
    // 6. Prune.
    const deleted = await prune(stores, pipeline, options);
    return { ...base, swapped: true, catchUp, check, afterSwap, documents, deleted, durationMs: now() - started };
  });
}

/** The index the pipeline's alias is on. */
export async function aliasTarget(stores: Stores, pipeline: PipelineConfig): Promise<string> {
  const alias = pipeline.index;
  const resolved = await stores.target.resolveName(alias);
  if (resolved.kind === 'index') {
    throw new CesyncError(
      'USAGE',
      `${pipeline.name}: ${alias} is an index, not an alias; cesync reindex rebuilds an index behind an alias. Give the pipeline an alias name that is not an index yet ` +
        `(index: ${alias}_alias, alias: true): its first sync creates ${alias}_alias-000001 behind it, and reindex builds the next ones`,
    );
  }
  if (resolved.kind === 'missing') {
    // The first index behind the alias is the first sync's to make (it creates <alias>-000001
    // with the alias on it); a rebuild beside a first sync would take the same name.
    throw new CesyncError(
      'USAGE',
      pipeline.alias
        ? `${pipeline.name}: the alias ${alias} does not exist yet: run cesync sync --pipeline ${pipeline.name} first (it creates ${alias}-000001 behind it); there is nothing to rebuild`
        : `${pipeline.name}: ${alias} does not exist; set alias: true in the pipeline, then cesync sync creates ${alias}-000001 behind the alias ${alias}`,
    );
  }
  if (resolved.indices.length !== 1) {
    throw new CesyncError('USAGE', `${pipeline.name}: the alias ${alias} is on ${resolved.indices.length} indices (${resolved.indices.join(', ')}); cesync reindex moves an alias that is on one index`);
  }
  return resolved.indices[0]!;
}

export interface Generation extends IndexInfo {
  readonly record: ReindexRecord | undefined;
  readonly retiredAt: number | undefined;
}

/** The indices named `<alias>-NNNNNN`, newest first, with their records. */
export async function generationsOf(stores: Stores, alias: string): Promise<Generation[]> {
  const found = (await stores.target.listIndices(`${alias}-*`)).filter((i) => generationOf(alias, i.index) !== undefined);
  const out: Generation[] = [];
  for (const i of found) {
    // A closed index holds its name (never reused) but no readable record; it is left alone.
    if (i.closed) {
      out.push({ ...i, record: undefined, retiredAt: undefined });
      continue;
    }
    const meta = await stores.target.mappingMeta(i.index);
    const retired = (meta?.cesync as { retiredAt?: unknown } | undefined)?.retiredAt;
    out.push({ ...i, record: recordOf(meta), retiredAt: typeof retired === 'string' ? Date.parse(retired) : undefined });
  }
  return out.sort((a, b) => generationOf(alias, b.index)! - generationOf(alias, a.index)!);
}

/**
 * Moves the alias in one request and marks the index it left as retired (when it stopped
 * serving, for `keepForMs`). Rejects, moving nothing, when the alias is no longer on `from`.
 */
async function moveAlias(stores: Stores, alias: string, from: string, to: string): Promise<void> {
  const api = stores.target;
  await api.moveAlias(alias, [from], to);
  // Read back: the alias is on `to` alone, or someone else's move was mixed with ours (a server
  // that applied the add although the remove found nothing): ours is then taken back.
  const now = await api.resolveName(alias);
  if (now.kind !== 'alias' || now.indices.length !== 1 || now.indices[0] !== to) {
    const on = now.kind === 'alias' ? now.indices.join(', ') : 'nothing';
    if (now.kind === 'alias' && now.indices.includes(to) && now.indices.length > 1) await api.moveAlias(alias, [to], now.indices.find((i) => i !== to)!).catch(() => undefined);
    throw new CesyncError('STORE_REQUEST', `the alias ${alias} was moved by someone else while cesync moved it from ${from} to ${to} (it was on ${on}); cesync took its own move back`);
  }
  await noteRetired(stores, from, Date.now());
  const meta = (await api.mappingMeta(to)) ?? {};
  const cesync = (meta.cesync as Record<string, unknown> | undefined) ?? {};
  if ('retiredAt' in cesync) {
    const { retiredAt: _serving, ...rest } = cesync;
    await api.putMappingMeta(to, { ...meta, cesync: rest });
  }
}

/** Notes in `index`'s _meta when it stopped serving (what `keepForMs` counts from). */
async function noteRetired(stores: Stores, index: string, atMs: number): Promise<void> {
  const meta = (await stores.target.mappingMeta(index)) ?? {};
  await stores.target.putMappingMeta(index, { ...meta, cesync: { ...((meta.cesync as Record<string, unknown>) ?? {}), retiredAt: new Date(atMs).toISOString() } });
}

/** Whether the source can list what changed in a window (else catch-ups are full passes). */
function hasIncrementalPath(source: RecordSource): boolean {
  try {
    source.changed(START, 0, {});
    return true;
  } catch (e) {
    if (e instanceof CesyncError && e.code === 'SCHEMA_MISMATCH') return false;
    throw e;
  }
}

type StepOptions = ReindexOptions & { readonly signal: AbortSignal };

/**
 * Changes made since the fill began (since the build's watermark, moved as each pass ends), into
 * the new index, until a pass finds less than a batch. A source without an incremental path gets
 * one second full pass (versions make it write only what changed).
 */
async function catchUpWith(
  stores: Stores,
  derived: PipelineConfig,
  building: OpenedPipeline,
  options: StepOptions,
  start: { readonly last: true } | { readonly from: number } = { last: true },
): Promise<ReindexReport['catchUp'] & { readonly failed: number; readonly carriedTo?: number }> {
  const { signal } = options;
  const run = { failureLedgerPath: options.failureLedgerPath, signal, observer: options.observer };
  if (!hasIncrementalPath(building.source)) {
    options.say(`${derived.name}: catching up by a second full pass (the table has no incremental path)`);
    const r = await fullSyncOpened(stores, building, derived, { ...run, failures: options.failures(), restart: true });
    throwIfInterrupted(signal, `the catch-up of ${derived.index}`);
    return { passes: 1, read: r.read, indexed: r.indexed, failed: r.failed, method: 'second pass' };
  }
  let passes = 0;
  let read = 0;
  let indexed = 0;
  let failed = 0;
  let from = start;
  let carriedTo: number | undefined;
  while (passes < CATCH_UP_PASSES) {
    passes += 1;
    // From the build's watermark (moved as passes end), or from a given version onwards.
    const window = await windowOf(stores, derived, 'to-elasticsearch', from, undefined, building.source);
    const r = await incrementalSync(
      { source: building.source, sink: building.sink, failures: options.failures(), observer: options.observer, state: stores.state },
      { ...window, failureLedgerPath: options.failureLedgerPath, signal },
    );
    throwIfInterrupted(signal, `the catch-up of ${derived.index}`);
    read += r.read;
    indexed += r.indexed;
    failed += r.failed;
    // Where the build's watermark now stands, when the window is on the versions themselves (a
    // scan of keys and write times). A change column windows on another quantity than the
    // versions verify compares, so there is no point to compare them with.
    carriedTo = r.changeDetection === 'scan' ? r.watermark.version : undefined;
    options.say(`${derived.name}: catch-up pass ${passes}: ${r.read} changed rows, ${r.indexed} written (${r.changeDetection})`);
    if (r.read < derived.incremental.batchSize || r.failed > 0) break;
    if ('from' in from) from = { from: r.window.to };
  }
  return { passes, read, indexed, failed, method: 'incremental', ...(carriedTo !== undefined ? { carriedTo } : {}) };
}

/**
 * Verify of the new index against the table, and a repair of what differs (re-read now, written
 * or deleted with version guards), until a verify finds it in sync or CHECK_ROUNDS verifies ran.
 * What a last verify still finds changed while it compared; the steps after the swap carry it.
 */
async function checkIndex(
  stores: Stores,
  pipeline: PipelineConfig,
  derived: PipelineConfig,
  building: OpenedPipeline,
  options: StepOptions,
  /** Where the catch-up carried the build to, in versions (see catchUpWith); none: unknown. */
  carriedTo: number | undefined,
): Promise<NonNullable<ReindexReport['check']> & { readonly failed: number }> {
  const { signal } = options;
  const inspector = new SearchIndexInspector(stores.target, { index: derived.index, metaField: META_FIELD });
  let repaired = 0;
  let report: VerifyReport | undefined;
  // Two-way: the way back writes rows with the (older) versions of edits made in the index, so
  // a row's version does not say when it reached the table.
  const recentFrom = pipeline.direction === 'to-elasticsearch' ? carriedTo : undefined;
  let rounds = 0;
  for (; rounds < CHECK_ROUNDS; ) {
    rounds += 1;
    await stores.target.refresh(derived.index, { signal });
    report = await verify({ source: building.source, target: inspector }, { pipeline: pipeline.name, index: derived.index, signal, content: options.content, recentFrom });
    const differences = total(report);
    options.say(`${pipeline.name}: verify of ${derived.index} (round ${rounds}): ${report.inSync ? 'in sync' : `${differences} differences (${describeCounts(report)})`}`);
    if (report.inSync) break;
    // The guard counts what the fill and the catch-up should have carried: documents missing or
    // stale whose row is not newer than where the catch-up carried the build. Rows written since
    // are the writers' pace (as many per round as a busy table changes while it is compared).
    // Not counted either: documents without a row (rows deleted meanwhile) and different ones (a
    // nested row or a cell gone, expired by TTL): no incremental path sees a removal. Where row
    // versions cannot be set against the catch-up (a change column, a second full pass, two-way),
    // stale ones are taken for the writers' pace and missing ones all count. Whatever is repaired
    // here goes into an index that nothing reads yet.
    const { missing, stale } = report.counts;
    const unexpected = report.recent ? missing - report.recent.missing + (stale - report.recent.stale) : missing;
    if (options.maxChanges !== undefined && unexpected > options.maxChanges) {
      throw new CesyncError(
        'GUARD',
        `${pipeline.name}: the check of ${derived.index} (round ${rounds}) found ${unexpected} documents that the fill and the catch-up should have carried (of ${describeCounts(report)}${report.recent ? `; rows written since the catch-up: ${report.recent.missing + report.recent.stale}` : ''}), more than --max-changes ${options.maxChanges}; ${rounds > 1 ? 'nothing more was repaired' : 'nothing was repaired'} and the alias stays where it was. Pass --yes (or a larger --max-changes) to repair them and go on.`,
      );
    }
    const r = await repairPipeline(stores, derived, report, { failures: options.failures(), failureLedgerPath: options.failureLedgerPath, signal, observer: options.observer });
    throwIfInterrupted(signal, `the repair of ${derived.index}`);
    repaired += r.indexed + r.deleted;
    if (r.failed > 0) return { rounds, inSync: false, repaired, remaining: differences, failed: r.failed };
  }
  return { rounds, inSync: report?.inSync ?? false, repaired, remaining: report && !report.inSync ? total(report) : 0, failed: 0 };
}

/**
 * After the alias moved onto `index`: waits until the safety lag has passed the move (writes
 * made before it have landed), carries documents changed in the index the alias left back to the
 * table (two-way pipelines), catches `index` up, then verifies the alias and repairs what differs
 * (deletes made meanwhile among them).
 */
async function afterMoveSteps(
  stores: Stores,
  pipeline: PipelineConfig,
  opened: OpenedPipeline,
  move: {
    readonly index: string;
    readonly movedAt: number;
    /** Indices whose documents changed since a version (microseconds) are carried back (two-way). */
    readonly carryBack: readonly { readonly index: string; readonly from: number }[];
    /** Where the catch-up starts: the build's watermark, or a version (microseconds). */
    readonly catchUp: { readonly last: true } | { readonly from: number };
  },
  options: StepOptions,
): Promise<NonNullable<ReindexReport['afterSwap']>> {
  const { signal } = options;
  const now = options.now ?? Date.now;
  await sleep(move.movedAt + pipeline.incremental.safetyLagMs + 100 - now(), signal);
  let carriedBack = 0;
  for (const left of pipeline.direction === 'both' ? move.carryBack : []) {
    if (!(await stores.target.indexExists(left.index))) continue;
    const back = await syncPipelineToCassandra(stores, { ...pipeline, index: left.index }, { from: left.from }, { failures: options.failures(), failureLedgerPath: options.failureLedgerPath, signal, observer: options.observer });
    throwIfInterrupted(signal, `the way back from ${left.index}`);
    carriedBack += back.indexed;
    options.say(`${pipeline.name}: ${back.indexed} documents changed in ${left.index} carried back to the table`);
  }
  const derived: PipelineConfig = { ...pipeline, name: buildKey(pipeline.name, move.index), index: move.index, alias: false };
  const building: OpenedPipeline = { ...opened, sink: pipelineSink(stores, derived, opened.mapping, options.observer) };
  const catchUp = await catchUpWith(stores, derived, building, options, move.catchUp);
  const verified = await verifyPipeline(stores, pipeline, { signal, content: options.content });
  let repaired = 0;
  if (!verified.inSync) {
    // Two-way: a document without a row may be one written into the index since the move that
    // the way back has not carried to the table yet; it is the way back's, never deleted here.
    const twoWay = pipeline.direction !== 'to-elasticsearch';
    const plan = twoWay ? { ...verified, ids: { ...verified.ids, orphan: [] } } : verified;
    options.say(
      `${pipeline.name}: verify of ${pipeline.index} after the move: ${total(verified)} differences (${describeCounts(verified)}); repairing` +
        (twoWay && verified.counts.orphan > 0 ? ` all but the ${verified.counts.orphan} documents without a row (two-way: the way back's to carry)` : ''),
    );
    const r = await repairPipeline(stores, pipeline, plan, { failures: options.failures(), failureLedgerPath: options.failureLedgerPath, signal, maxChanges: options.maxChanges, observer: options.observer });
    throwIfInterrupted(signal, `the repair of ${pipeline.index}`);
    repaired = r.indexed + r.deleted;
  } else options.say(`${pipeline.name}: verify of ${pipeline.index} after the move: in sync`);
  return { read: catchUp.read, indexed: catchUp.indexed, carriedBack, repaired, inSync: verified.inSync };
}

/** Steps after a rebuild's swap (afterMoveSteps), then the rebuild marked done. */
async function afterSwapSteps(stores: Stores, pipeline: PipelineConfig, opened: OpenedPipeline, index: string, record: ReindexRecord, options: StepOptions): Promise<NonNullable<ReindexReport['afterSwap']>> {
  const swappedAt = record.swappedAt ? Date.parse(record.swappedAt) : (options.now ?? Date.now)();
  const lag = pipeline.incremental.safetyLagMs * 1000;
  const carryBack = record.previous ? [{ index: record.previous, from: Math.max(0, (record.backFrom ?? 0) - lag) }] : [];
  const steps = await afterMoveSteps(stores, pipeline, opened, { index, movedAt: swappedAt, carryBack, catchUp: { last: true } }, options);
  await stores.target.putMappingMeta(index, withRecord(await stores.target.mappingMeta(index), { ...record, state: 'done', swappedAt: new Date(swappedAt).toISOString() }));
  return steps;
}

/**
 * `cesync reindex --rollback`: the alias moved back onto the index its current one was built
 * from, which then gets what was written since its successor's rebuild began (a catch-up from
 * there, minus the safety lag; two-way: what was changed in the successor is carried back to the
 * table first), and a verify and repair.
 */
export async function rollbackPipeline(stores: Stores, pipeline: PipelineConfig, options: ReindexOptions): Promise<ReindexReport> {
  const now = options.now ?? Date.now;
  const started = now();
  return withLease(stores, pipeline, options, async (signal) => {
    const api = stores.target;
    const alias = pipeline.index;
    const current = await aliasTarget(stores, pipeline);
    const meta = await api.mappingMeta(current);
    const record = recordOf(meta);
    const target = record?.previous;
    if (!record || !target) throw new CesyncError('USAGE', `${pipeline.name}: ${current} was not built by cesync reindex from another index (its mapping records none); there is nothing to roll back to`);
    if (!(await api.indexExists(target))) throw new CesyncError('USAGE', `${pipeline.name}: ${target}, the index ${current} was built from, no longer exists (see reindex.keep and keepForMs); there is nothing to roll back to`);
    const opened = await openPipeline(stores, pipeline, options.observer);
    // Marked done first (a later rebuild must not take it for one in progress to swap in again);
    // put back as it was when the alias does not move.
    await api.putMappingMeta(current, withRecord(meta, { ...record, state: 'done' }));
    throwIfInterrupted(signal, 'the rollback');
    const movedAt = now();
    try {
      await moveAlias(stores, alias, current, target);
    } catch (e) {
      await api.putMappingMeta(current, withRecord(meta, record)).catch(() => undefined);
      throw e;
    }
    options.say(`${pipeline.name}: alias ${alias} moved back from ${current} to ${target}`);
    const lag = pipeline.incremental.safetyLagMs * 1000;
    const since = Math.max(0, Date.parse(record.startedAt) * 1000 - lag);
    const swappedAt = record.swappedAt ? Date.parse(record.swappedAt) * 1000 : since;
    // Two-way: what was changed in the index left since it was swapped in, and, when its rebuild
    // had not finished carrying them, the changes made in the target before that swap.
    const carryBack = [
      { index: current, from: Math.max(0, swappedAt - lag) },
      ...(record.state !== 'done' ? [{ index: target, from: Math.max(0, (record.backFrom ?? 0) - lag) }] : []),
    ];
    const afterSwap = await afterMoveSteps(stores, pipeline, opened, { index: target, movedAt, carryBack, catchUp: { from: since } }, { ...options, failures: () => underName(options.failures(), pipeline.name), signal });
    return {
      pipeline: pipeline.name,
      alias,
      previous: current,
      index: target,
      resumed: false,
      swapped: true,
      catchUp: { passes: 0, read: 0, indexed: 0, method: 'incremental' },
      afterSwap,
      deleted: [],
      startedAt: new Date(started).toISOString(),
      durationMs: now() - started,
    };
  });
}

/**
 * Deletes old generations not in use: all but the `keep` that served last (the one the serving
 * index was built from first: --rollback goes there), and only those that stopped serving at
 * least `keepForMs` ago. Unfinished rebuilds, closed indices and indices not named
 * `<alias>-NNNNNN` are never deleted here.
 */
async function prune(stores: Stores, pipeline: PipelineConfig, options: Pick<ReindexOptions, 'say' | 'now'>): Promise<string[]> {
  const now = (options.now ?? Date.now)();
  const alias = pipeline.index;
  const current = await stores.target.resolveName(alias);
  const serving = new Set(current.kind === 'alias' ? current.indices : []);
  const generations = await generationsOf(stores, alias);
  const back = generations.find((g) => serving.has(g.index))?.record?.previous;
  const old = generations.filter((g) => !serving.has(g.index) && !g.closed && (!g.record || g.record.state === 'done'));
  // When it stopped serving; an index that never said so (a run stopped between the move and the
  // note) is taken to have stopped now, and noted so.
  const retired = new Map<string, number>();
  for (const g of old) {
    if (g.retiredAt === undefined) await noteRetired(stores, g.index, now);
    retired.set(g.index, g.retiredAt ?? now);
  }
  const since = (g: Generation) => retired.get(g.index)!;
  old.sort((a, b) => Number(b.index === back) - Number(a.index === back) || since(b) - since(a) || generationOf(alias, b.index)! - generationOf(alias, a.index)!);
  const { keep, keepForMs } = pipeline.reindex;
  const doomed = old.slice(keep).filter((g) => now - since(g) >= keepForMs);
  if (doomed.length > 0) {
    await stores.target.deleteIndex(doomed.map((g) => g.index));
    options.say(`${pipeline.name}: deleted ${doomed.map((g) => g.index).join(', ')} (reindex.keep ${keep}, keepForMs ${keepForMs})`);
  }
  return doomed.map((g) => g.index);
}

/** Runs `fn` holding the pipeline's reindex lease; a lease lost meanwhile stops it (LEASE_HELD). */
async function withLease<R>(stores: Stores, pipeline: PipelineConfig, options: ReindexOptions, fn: (signal: AbortSignal) => Promise<R>): Promise<R> {
  const name = reindexLease(pipeline.name);
  const ttl = options.leaseTtlMs ?? LEASE_TTL_MS;
  if (!(await stores.state.acquireLease(name, options.owner, ttl))) {
    const holder = await stores.state.leaseHolder(name);
    throw new CesyncError('LEASE_HELD', `${pipeline.name}: another cesync reindex of this pipeline is running (${holder ?? 'its holder is unknown'}); it ends, or its lease expires ${Math.round(ttl / 1000)} s after it stopped`);
  }
  const lost = new AbortController();
  let lastRenewed = Date.now();
  const timer = setInterval(() => {
    const sent = Date.now();
    stores.state.renewLease(name, options.owner, ttl).then(
      (held) => {
        if (held) lastRenewed = sent;
        else lost.abort();
      },
      () => {
        if (Date.now() - lastRenewed >= ttl) lost.abort();
      },
    );
  }, Math.max(100, Math.floor(ttl / 3)));
  timer.unref();
  const signal = options.signal ? AbortSignal.any([options.signal, lost.signal]) : lost.signal;
  try {
    return await fn(signal);
  } catch (e) {
    if (lost.signal.aborted && !options.signal?.aborted) throw new CesyncError('LEASE_HELD', `${pipeline.name}: the reindex lease was lost (another process took it, or the state store did not answer for ${Math.round(ttl / 1000)} s); stopped`, { cause: e });
    throw e;
  } finally {
    clearInterval(timer);
    await stores.state.releaseLease(name, options.owner).catch(() => undefined);
  }
}

function total(r: VerifyReport): number {
  return Object.values(r.counts).reduce((a, b) => a + b, 0);
}

function describeCounts(r: VerifyReport): string {
  return Object.entries(r.counts)
    .filter(([, n]) => n > 0)
    .map(([c, n]) => `${c} ${n}`)
    .join(', ');
}

/** Waits `ms` (nothing when not positive); a stop ends the wait with INTERRUPTED. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(new CesyncError('INTERRUPTED', 'interrupted while waiting for the safety lag to pass the swap; the next run carries the changes made around it'));
    };
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  });
}

/** A failure sink that records entries under `pipeline` (the rebuild's own state name is not one). */
function underName(sink: FailureSink, pipeline: string): FailureSink {
  return { record: (entry) => sink.record({ ...entry, pipeline }), close: () => sink.close() };
}

/**
 * What a rebuild is built for: the mapping and settings, the pipeline's shaping (fields, nest,
 * lookups, transform, id, version) and the transform module's code. A rebuild begun for another
 * is not continued.
 */
export async function pipelineShape(pipeline: PipelineConfig, mapping: Record<string, unknown>): Promise<string> {
  const module = pipeline.transform?.module ? await readFile(pipeline.transform.module, 'utf8').catch(() => '') : '';
  const transform = pipeline.transform ? { ...pipeline.transform, module: undefined } : undefined;
  // Which rows the index holds (a PostgreSQL filter) is part of its shape too: a build of other rows is no build of this one.
  const shaping = { fields: pipeline.fields, nest: pipeline.nest, lookups: pipeline.lookups, transform, id: pipeline.id, version: pipeline.version, module, ...(pipeline.filter !== undefined ? { filter: pipeline.filter } : {}) };
  return shapeDigest({ ...mapping, _meta: { ...(mapping._meta as object), shaping } }, pipeline.indexSettings);
}
