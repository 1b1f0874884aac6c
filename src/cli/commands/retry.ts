/**
 * `cesync retry LEDGER`: sync again exactly the ids of a failure ledger, and write what still
 * fails to a new ledger (attempt + 1). Success means acknowledged by Elasticsearch.
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { NdjsonFailureLedger } from '../../engine/failure-ledger.js';
import type { FailureEntry } from '../../engine/ports.js';
import { summarise, type RunReport } from '../../engine/run-report.js';
import { CesyncError } from '../../errors.js';
import { connectStores } from '../../sync/stores.js';
import { selectPipelines, syncPipelineIds } from '../../sync/sync-pipeline.js';
import type { CliContext } from '../context.js';
import { createLogger } from '../logger.js';
import { addConfigOption, exitCodeOfReports, loadCliConfig, logLevelOption, nonNegativeInt, writeReports } from '../shared-options.js';

interface RetryFlags {
  config?: string;
  out?: string;
  maxChanges?: number;
  yes?: boolean;
  dryRun?: boolean;
  report?: string;
  json?: boolean;
  logLevel: string;
}

export function retryCommand(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const cmd = new Command('retry')
    .argument('<ledger>', 'failure ledger (NDJSON) written by an earlier sync')
    .summary('sync again the ids of a failure ledger')
    .description(
      'Sync again exactly the ids listed in a failure ledger (each with its pipeline), reading the rows fresh from ' +
        'Cassandra. What still fails is written to a new ledger with the attempt number increased.',
    )
    .option('--out <file>', 'the new ledger (default: LEDGER with .retry before .ndjson)')
    .option('--max-changes <n>', 'stop before writing if more documents would change (default: maxChanges of the config)', nonNegativeInt)
    .option('-y, --yes', 'go on even when more than --max-changes documents would change')
    .option('--dry-run', 'write nothing; print what would be done')
    .option('--report <file>', 'write the run report as JSON to this file')
    .option('--json', 'print the run report as JSON on stdout')
    .addOption(logLevelOption());
  addConfigOption(cmd);

  cmd.action(async (ledgerPath: string, flags: RetryFlags) => {
    const entries = await readLedger(ledgerPath);
    const config = await loadCliConfig(ctx, flags.config);
    const byPipeline = new Map<string, { ids: string[]; attempt: number }>();
    for (const e of entries) {
      const g = byPipeline.get(e.pipeline) ?? { ids: [], attempt: 0 };
      if (!g.ids.includes(e.id)) g.ids.push(e.id);
      g.attempt = Math.max(g.attempt, e.attempt);
      byPipeline.set(e.pipeline, g);
    }
    const pipelines = selectPipelines(config, [...byPipeline.keys()]);
    const out = flags.out ?? ledgerPath.replace(/(\.ndjson)?$/, '.retry.ndjson');
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const stores = await connectStores(config);
    const reports: RunReport[] = [];
    try {
      for (const pipeline of pipelines) {
        const g = byPipeline.get(pipeline.name)!;
        log.info({ pipeline: pipeline.name, ids: g.ids.length, attempt: g.attempt + 1 }, 'retry started');
        reports.push(
          await syncPipelineIds(
            stores,
            pipeline,
            g.ids.map((id, i) => ({ line: i + 1, fields: [id] })),
            {
              failures: new NdjsonFailureLedger(out),
              failureLedgerPath: out,
              signal: ctx.signal,
              dryRun: flags.dryRun,
              mode: 'retry',
              attempt: g.attempt + 1,
              maxChanges: flags.yes ? undefined : (flags.maxChanges ?? config.maxChanges),
            },
          ),
        );
      }
    } finally {
      await stores.close();
    }
    await writeReports(ctx, reports, flags, summarise);
    setExitCode(exitCodeOfReports(reports, ctx.signal));
  });
  return cmd;
}

async function readLedger(path: string): Promise<FailureEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CesyncError('USAGE', `cannot read ledger ${path}: ${(cause as Error).message}`, { cause });
  }
  const entries: FailureEntry[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let e: Partial<FailureEntry>;
    try {
      e = JSON.parse(line) as Partial<FailureEntry>;
    } catch {
      throw new CesyncError('USAGE', `${path}:${i + 1}: not a JSON line`);
    }
    if (typeof e.id !== 'string' || typeof e.pipeline !== 'string') throw new CesyncError('USAGE', `${path}:${i + 1}: a ledger entry needs "id" and "pipeline"`);
    entries.push({ ...e, attempt: typeof e.attempt === 'number' ? e.attempt : 1 } as FailureEntry);
  });
  if (entries.length === 0) throw new CesyncError('USAGE', `${path} holds no failures: nothing to retry`);
  return entries;
}
