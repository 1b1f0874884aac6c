/**
 * `cesync sync`: full sync of one, several or every pipeline of a configuration. Thin: parses
 * options, runs the use case per pipeline, prints the reports.
 */
import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { NdjsonFailureLedger } from '../../engine/failure-ledger.js';
import { summarise, type RunReport } from '../../engine/run-report.js';
import { EXIT } from '../../errors.js';
import { connectStores } from '../../sync/stores.js';
import { selectPipelines, syncPipeline } from '../../sync/sync-pipeline.js';
import type { CliContext } from '../context.js';
import { createLogger } from '../logger.js';
import { createProgress } from '../progress.js';
import { addConfigOption, loadCliConfig, logLevelOption, positiveInt } from '../shared-options.js';

interface SyncFlags {
  config?: string;
  pipeline?: string[];
  report?: string;
  json?: boolean;
  quiet?: boolean;
  failureLedger?: string;
  pageSize?: number;
  splits?: number;
  rangesInFlight?: number;
  logLevel: string;
}

export function syncCommand(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const cmd = new Command('sync')
    .summary('copy Cassandra tables into Elasticsearch indices')
    .description(
      'Copy Cassandra tables into Elasticsearch indices: a full sync by token ranges, guarded by versions. ' +
        "Each row becomes one document whose _id is its primary key and whose external version is the row's newest " +
        "WRITETIME (or the pipeline's version column). Re-running is safe: older or identical versions are counted " +
        'as unchanged. Documents Elasticsearch rejects go to the failure ledger and the run goes on.',
    )
    .option('-p, --pipeline <name...>', 'pipeline(s) to run (default: every pipeline in the file)')
    .option('--report <file>', 'write the run report as JSON to this file')
    .option('--json', 'print the run report as JSON on stdout instead of a summary')
    .option('-q, --quiet', 'no progress bar')
    .option('--failure-ledger <file>', 'NDJSON file for failed documents (default: failureLedger of the config)')
    .option('--page-size <n>', 'rows per CQL page (overrides the config)', positiveInt)
    .option('--splits <n>', 'token ranges to split the table into (overrides the config)', positiveInt)
    .option('--ranges-in-flight <n>', 'token ranges read in parallel (overrides the config)', positiveInt)
    .addOption(logLevelOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 all documents synced or unchanged; 1 some documents failed (see the ledger);\n' +
        '2 bad usage or configuration; 3 a store is unreachable or refused us; 4 interrupted.\n\n' +
        'Example:\n  cesync sync --config cesync.yaml --pipeline user --report report.json',
    );
  addConfigOption(cmd);

  cmd.action(async (flags: SyncFlags) => {
    const config = await loadCliConfig(ctx, flags.config, {
      pipeline: { pageSize: flags.pageSize, splits: flags.splits, rangesInFlight: flags.rangesInFlight },
    });
    const pipelines = selectPipelines(config, flags.pipeline);
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const ledgerPath = flags.failureLedger ?? config.failureLedger;
    const stores = await connectStores(config);
    const reports: RunReport[] = [];
    try {
      for (const pipeline of pipelines) {
        if (ctx.signal.aborted) break;
        const plog = log.child({ pipeline: pipeline.name, table: `${pipeline.keyspace}.${pipeline.table}`, index: pipeline.index });
        plog.info('full sync started');
        const progress = createProgress(pipeline.name, ctx.interactive && !flags.quiet);
        const ledger = new NdjsonFailureLedger(ledgerPath);
        let report: RunReport;
        try {
          report = await syncPipeline(stores, pipeline, {
            failures: ledger,
            failureLedgerPath: ledgerPath,
            signal: ctx.signal,
            onProgress: (c, total) => progress.update(c, total),
          });
        } finally {
          progress.stop();
        }
        reports.push(report);
        const { read, indexed, unchanged, failed, durationMs } = report;
        plog.info({ read, indexed, unchanged, failed, durationMs }, 'full sync finished');
      }
    } finally {
      await stores.close();
    }
    if (flags.report) await writeFile(flags.report, `${JSON.stringify({ reports }, null, 2)}\n`);
    ctx.stdout.write(flags.json ? `${JSON.stringify({ reports }, null, 2)}\n` : `${reports.map(summarise).join('\n')}\n`);
    if (reports.some((r) => r.interrupted) || ctx.signal.aborted) setExitCode(EXIT.INTERRUPTED);
    else if (reports.some((r) => r.failed > 0)) setExitCode(EXIT.DOCUMENTS_FAILED);
  });
  return cmd;
}
