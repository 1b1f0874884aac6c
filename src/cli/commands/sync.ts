/**
 * `cesync sync`: full sync (resumable), sync of given ids, dry runs. Thin: parses options, runs
 * the use case per pipeline, prints the reports.
 */
import { Command, Option } from 'commander';
import { NdjsonFailureLedger } from '../../engine/failure-ledger.js';
import type { KeyInput } from '../../engine/key-input.js';
import { summarise, type RunReport } from '../../engine/run-report.js';
import type { ThrottleOptions } from '../../engine/throttle.js';
import { CesyncError } from '../../errors.js';
import { connectStores } from '../../sync/stores.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import {
  directionsOf,
  selectPipelines,
  syncPipeline,
  syncPipelineIds,
  syncPipelineIncremental,
  syncPipelineToCassandra,
  type IncrementalStart,
} from '../../sync/sync-pipeline.js';
import type { CliContext } from '../context.js';
import { idsFromCsv, idsFromFlag } from '../key-inputs.js';
import { createLogger } from '../logger.js';
import { createProgress } from '../progress.js';
import { addMetricsOptions, startMetrics, type MetricsFlags } from '../metrics-options.js';
import {
  addConfigOption,
  exitCodeOfReports,
  inPipeline,
  loadCliConfig,
  logLevelOption,
  nonNegativeInt,
  parseSince,
  positiveInt,
  throttleOptions,
  writeReports,
} from '../shared-options.js';

interface SyncFlags extends MetricsFlags {
  config?: string;
  pipeline?: string[];
  ids?: string;
  idsFile?: string;
  deleteMissing?: boolean;
  maxChanges?: number;
  yes?: boolean;
  dryRun?: boolean;
  plan?: string;
  restart?: boolean;
  since?: string;
  from?: string;
  to?: string;
  createIndex?: boolean;
  createQueue?: boolean;
  direction?: 'to-elasticsearch' | 'to-cassandra';
  report?: string;
  json?: boolean;
  quiet?: boolean;
  failureLedger?: string;
  pageSize?: number;
  splits?: number;
  rangesInFlight?: number;
  blockSize?: number;
  sleep?: number;
  rate?: number;
  logLevel: string;
}

export function syncCommand(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const cmd = new Command('sync')
    .summary('sync tables and indices: all rows, given ids, or changes since a time, either way')
    .description(
      'Copy Cassandra or PostgreSQL tables into Elasticsearch or OpenSearch indices, guarded by versions. Without --ids or --ids-file: a full ' +
        'sync by ranges of the table (token ranges, key ranges) that saves its progress and resumes after an interruption. With them: exactly those ' +
        'rows. With --since or --from: only rows changed in that window; for pipelines with direction to-cassandra or ' +
        'both, documents changed in the index are also written back as rows USING TIMESTAMP. ' +
        "Each row becomes one document whose _id is its primary key and whose external version is the row's " +
        "newest WRITETIME (or the pipeline's version column). Re-running is safe: older or identical versions are " +
        'counted as unchanged. Documents the index rejects go to the failure ledger and the run goes on.',
    )
    .option('-p, --pipeline <name...>', 'pipeline(s) to run (default: every pipeline in the file); a tables pipeline by its name (all its tables) or NAME.TABLE (one)')
    .option('--ids <ids>', 'sync only these document ids, comma-separated (composite keys in the id format)')
    .option('--ids-file <file>', 'sync only the ids of this CSV file (no header, one id per line, composite keys as columns); - for stdin')
    .option('--delete-missing', 'with --ids/--ids-file: delete the documents of ids that have no row (version-guarded)')
    .option('--max-changes <n>', 'with --ids/--ids-file: stop before writing if more documents would change (default: maxChanges of the config, 1000)', nonNegativeInt)
    .option('-y, --yes', 'go on even when more than --max-changes documents would change')
    .option('--dry-run', 'write nothing: print what would be created, updated or left unchanged, and write every id per action to --plan')
    .option('--plan <file>', 'with --dry-run: the NDJSON file for the plan (default: cesync-plan-<pipeline>.ndjson)')
    .option('--restart', 'full sync: ignore saved progress and read the whole table again')
    .option('--since <time>', "incremental: rows changed since TIME (ISO, epoch ms, or an age like 2h), or since 'last' run (moves the pipeline's watermark)")
    .option('--from <time>', 'incremental: rows changed after this time (with --to; the watermark is left alone)')
    .option('--to <time>', 'incremental: ... and at most this time (default: now minus the safety lag)')
    .addOption(new Option('--direction <direction>', "only this direction of the pipeline (default: the pipeline's direction)").choices(['to-elasticsearch', 'to-cassandra']))
    .option('--create-index', "create the index on the pipeline's change column first (Cassandra: a Storage-Attached Index; PostgreSQL: a btree); it costs writes, so it is asked for, never implied")
    .option('--create-queue', 'PostgreSQL, pending.queue: create the queue table and the triggers that fill it with the keys of inserted, updated and deleted rows (with --since last)')
    .option('--report <file>', 'write the run report as JSON to this file')
    .option('--json', 'print the run report as JSON on stdout instead of a summary')
    .option('-q, --quiet', 'no progress bar')
    .option('--failure-ledger <file>', 'NDJSON file for failed documents (default: failureLedger of the config)')
    .option('--page-size <n>', 'rows per CQL page (overrides the config)', positiveInt)
    .option('--splits <n>', 'ranges to split the table into: token ranges (Cassandra), key ranges (PostgreSQL); overrides the config', positiveInt)
    .option('--ranges-in-flight <n>', 'ranges read in parallel (overrides the config)', positiveInt)
    .option('--block-size <n>', 'throttle: pause after every n documents (with --sleep)', positiveInt)
    .option('--sleep <ms>', 'throttle: pause this many milliseconds after each block', nonNegativeInt)
    .option('--rate <docs>', 'throttle: at most this many documents per second', positiveInt)
    .addOption(logLevelOption());
  addMetricsOptions(cmd)
    .addHelpText(
      'after',
      '\nExit codes: 0 all documents synced or unchanged; 1 some documents failed or ids were missing (see the ledger);\n' +
        '2 bad usage or configuration; 3 a store is unreachable or refused us; 4 interrupted; 5 stopped by --max-changes.\n\n' +
        'Examples:\n' +
        '  cesync sync --config cesync.yaml --pipeline user --report report.json\n' +
        '  cesync sync --pipeline user --ids-file user-ids.csv --dry-run\n' +
        '  cesync sync --pipeline user --since last\n' +
        '  cat ids.csv | cesync sync --pipeline user --ids-file - --delete-missing --yes\n' +
        '  cesync sync --pipeline user --metrics-port 9464   (a long full sync: progress, ETA, rates at /metrics; docs/metrics.md)',
    );
  addConfigOption(cmd);

  cmd.action(async (flags: SyncFlags) => {
    if (flags.ids !== undefined && flags.idsFile !== undefined) throw new CesyncError('USAGE', 'give --ids or --ids-file, not both');
    const targeted = flags.ids !== undefined || flags.idsFile !== undefined;
    for (const [flag, on] of [['--delete-missing', flags.deleteMissing], ['--max-changes', flags.maxChanges !== undefined]] as const) {
      if (on && !targeted) throw new CesyncError('USAGE', `${flag} applies to --ids or --ids-file`);
    }
    if (flags.restart && targeted) throw new CesyncError('USAGE', '--restart applies to a full sync, not to --ids');
    if (flags.since !== undefined && flags.from !== undefined) throw new CesyncError('USAGE', 'give --since or --from, not both');
    if (flags.to !== undefined && flags.from === undefined) throw new CesyncError('USAGE', '--to goes with --from');
    if (targeted && flags.direction === 'to-cassandra') throw new CesyncError('USAGE', '--ids read rows from Cassandra: they sync towards Elasticsearch only');
    const incremental = flags.since !== undefined || flags.from !== undefined;
    if (incremental && (targeted || flags.restart)) throw new CesyncError('USAGE', '--since/--from select changed rows: not with --ids or --restart');
    // --plan without --dry-run would otherwise be ignored, and the run would write.
    if (flags.plan !== undefined && !flags.dryRun) throw new CesyncError('USAGE', '--plan names the plan file of a dry run: add --dry-run (nothing is written then)');
    const nowMs = Date.now();
    const start: IncrementalStart | undefined = !incremental
      ? undefined
      : flags.since === 'last'
        ? { last: true }
        : incrementalWindow(flags, nowMs);
    const config = await loadCliConfig(ctx, flags.config, {
      pipeline: { pageSize: flags.pageSize, splits: flags.splits, rangesInFlight: flags.rangesInFlight },
    });
    const inputs: KeyInput[] | undefined = targeted
      ? flags.ids !== undefined
        ? idsFromFlag(flags.ids)
        : await idsFromCsv(flags.idsFile!, process.stdin)
      : undefined;
    if (inputs && inputs.length === 0) {
      // Nothing to sync is a mistake (an empty file, a variable that expanded to nothing): say so, write nothing.
      const where = flags.ids !== undefined ? `--ids ${JSON.stringify(flags.ids)}` : `--ids-file ${flags.idsFile === '-' ? '- (stdin)' : flags.idsFile}`;
      throw new CesyncError('USAGE', `${where} holds no ids: give at least one id (CSV: one id per line, no header)`);
    }
    const throttle: ThrottleOptions | undefined = throttleOptions(flags);
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const ledgerPath = flags.failureLedger ?? config.failureLedger;
    const stores = await connectStores(config);
    const reports: RunReport[] = [];
    let served: Awaited<ReturnType<typeof startMetrics>> | undefined;
    try {
      served = await startMetrics(flags, log);
      const metrics = served.metrics;
      // The tables of `tables` pipelines are known only from Cassandra.
      const pipelines = selectPipelines(await expandPipelines(config, stores), flags.pipeline);
      if (targeted && pipelines.length !== 1) {
        throw new CesyncError('USAGE', `ids belong to one table: name one --pipeline${pipelines.length > 1 ? ` (this selects ${pipelines.map((p) => p.name).join(', ')})` : ''}`);
      }
      for (const pipeline of pipelines) {
        const directions = flags.direction ? [flags.direction] : targeted ? ['to-elasticsearch' as const] : directionsOf(pipeline);
        for (const direction of directions) {
          if (ctx.signal.aborted) break;
          const plog = log.child({ pipeline: pipeline.name, table: `${pipeline.keyspace}.${pipeline.table}`, index: pipeline.index, direction });
          const progress = createProgress(pipeline.name, ctx.interactive && !flags.quiet);
          const common = {
            failures: new NdjsonFailureLedger(ledgerPath),
            failureLedgerPath: ledgerPath,
            signal: ctx.signal,
            onProgress: progress.update,
            dryRun: flags.dryRun,
            planPath: flags.dryRun ? (flags.plan ?? `cesync-plan-${pipeline.name}.ndjson`) : undefined,
            throttle,
            observer: metrics?.observer({ pipeline: pipeline.name, direction }),
          };
          plog.info({ mode: inputs ? 'ids' : start ? 'incremental' : 'full', dryRun: Boolean(flags.dryRun) }, 'sync started');
          let report: RunReport;
          try {
            report = await inPipeline(pipeline.name, async (): Promise<RunReport> => {
              if (direction === 'to-cassandra') {
                if (flags.dryRun) throw new CesyncError('USAGE', '--dry-run is not available towards Cassandra yet');
                return syncPipelineToCassandra(stores, pipeline, start ?? { all: true }, { ...common, now: nowMs });
              }
              if (inputs) {
                return syncPipelineIds(stores, pipeline, inputs, {
                  ...common,
                  deleteMissing: flags.deleteMissing,
                  maxChanges: flags.yes ? undefined : (flags.maxChanges ?? config.maxChanges),
                });
              }
              return start
                ? syncPipelineIncremental(stores, pipeline, start, { ...common, createIndex: flags.createIndex, createQueue: flags.createQueue, now: nowMs })
                : syncPipeline(stores, pipeline, { ...common, restart: flags.restart });
            });
          } finally {
            progress.stop();
          }
          reports.push({ ...report, direction });
          const { read, indexed, unchanged, failed, durationMs, resumedSpans } = report;
          plog.info({ read, indexed, unchanged, failed, durationMs, resumedSpans }, 'sync finished');
        }
      }
    } finally {
      await served?.close();
      await stores.close();
    }
    await writeReports(ctx, reports, flags, summarise);
    setExitCode(exitCodeOfReports(reports, ctx.signal));
  });
  return cmd;
}

/** The window of `--since TIME` or `--from`/`--to`, checked: a start after its end selects nothing and is a mistake. */
function incrementalWindow(flags: Pick<SyncFlags, 'since' | 'from' | 'to'>, nowMs: number): IncrementalStart {
  const fromFlag = flags.since !== undefined ? '--since' : '--from';
  const from = parseSince(flags.since ?? flags.from!, nowMs, fromFlag);
  const to = flags.to !== undefined ? parseSince(flags.to, nowMs, '--to', true) : undefined;
  if (to !== undefined && from > to) {
    throw new CesyncError(
      'USAGE',
      `--from ${flags.from} (${new Date(from / 1000).toISOString()}) is after --to ${flags.to} (${new Date(to / 1000).toISOString()}): the window would be empty`,
    );
  }
  return { from, to };
}
