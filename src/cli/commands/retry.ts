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
import { expandPipelines } from '../../sync/expand-pipelines.js';
import { selectPipelines, syncPipelineIds } from '../../sync/sync-pipeline.js';
import type { CliContext } from '../context.js';
import { createLogger } from '../logger.js';
import { addConfigOption, exitCodeOfReports, inPipeline, loadCliConfig, logLevelOption, nonNegativeInt, writeReports } from '../shared-options.js';

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
    const out = flags.out ?? ledgerPath.replace(/(\.ndjson)?$/, '.retry.ndjson');
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const stores = await connectStores(config);
    const reports: RunReport[] = [];
    try {
      // Ledger entries name the pipelines of tables (NAME.TABLE) of `tables` pipelines: known once expanded.
      const expanded = await expandPipelines(config, stores);
      const unknown = entries.find((e) => !expanded.pipelines.some((p) => p.name === e.pipeline));
      if (unknown) {
        throw new CesyncError(
          'USAGE',
          `${ledgerPath}:${unknown.line}: unknown pipeline ${JSON.stringify(unknown.pipeline)} (this configuration has: ${expanded.pipelines.map((p) => p.name).join(', ')}); retry with the configuration the ledger was written with`,
        );
      }
      const pipelines = selectPipelines(expanded, [...byPipeline.keys()]);
      for (const pipeline of pipelines) {
        const g = byPipeline.get(pipeline.name)!;
        log.info({ pipeline: pipeline.name, ids: g.ids.length, attempt: g.attempt + 1 }, 'retry started');
        reports.push(
          await inPipeline(pipeline.name, () => syncPipelineIds(
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
          )),
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

/** The entries of a failure ledger, each with its line; a line that is no entry is an error naming it. */
async function readLedger(path: string): Promise<(FailureEntry & { line: number })[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CesyncError('USAGE', `cannot read ledger ${path}: ${(cause as Error).message}`, { cause });
  }
  const entries: (FailureEntry & { line: number })[] = [];
  const expected = 'expected a failure entry such as {"id":"...","pipeline":"...","attempt":1} (NDJSON: one per line, as sync writes them)';
  text.replace(/^\uFEFF/, '').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${path}:${i + 1}`;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch {
      throw new CesyncError('USAGE', `${where}: not a JSON line; ${expected}`);
    }
    if (!e || typeof e !== 'object' || Array.isArray(e)) throw new CesyncError('USAGE', `${where}: not a JSON object; ${expected}`);
    const entry = e as Partial<FailureEntry>;
    for (const field of ['id', 'pipeline'] as const) {
      if (typeof entry[field] !== 'string' || entry[field] === '') {
        throw new CesyncError('USAGE', `${where}: "${field}" is ${field in entry ? `${String(JSON.stringify(entry[field])).slice(0, 60)}, not a non-empty string` : 'missing'}; ${expected}`);
      }
    }
    // Ledgers written by hand may leave the attempt out: it counts as the first.
    const attempt = typeof entry.attempt === 'number' && Number.isInteger(entry.attempt) && entry.attempt >= 1 ? entry.attempt : 1;
    entries.push({ ...(entry as FailureEntry), attempt, line: i + 1 });
  });
  if (entries.length === 0) throw new CesyncError('USAGE', `${path} holds no failures: nothing to retry`);
  return entries;
}
