/**
 * `cesync reindex`: rebuild a pipeline's index behind its alias while the index in use keeps
 * serving, then move the alias in one atomic request (src/sync/reindex-pipeline.ts); `--rollback`
 * moves it back; `--dry-run` shows the plan.
 */
import { hostname } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { NdjsonFailureLedger } from '../../engine/failure-ledger.js';
import { EXIT } from '../../errors.js';
import { connectStores } from '../../sync/stores.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import { selectPipelines } from '../../sync/sync-pipeline.js';
import { reindexPipeline, rollbackPipeline, type ReindexReport } from '../../sync/reindex-pipeline.js';
import { planReindex, type ReindexPlan } from '../../sync/reindex-plan.js';
import type { CliContext } from '../context.js';
import { createProgress } from '../progress.js';
import { addConfigOption, inPipeline, loadCliConfig, nonNegativeInt, positiveInt } from '../shared-options.js';

interface ReindexFlags {
  config?: string;
  pipeline: string[];
  rollback?: boolean;
  dryRun?: boolean;
  swap?: boolean;
  restart?: boolean;
  maxChanges?: number;
  yes?: boolean;
  report?: string;
  json?: boolean;
  quiet?: boolean;
  leaseTtl?: number;
  content?: boolean;
}

export function reindexCommand(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const cmd = new Command('reindex')
    .summary("rebuild a pipeline's index behind its alias, without downtime")
    .description(
      "Build a new index <alias>-00000N with the pipeline's current mapping and settings, fill it by a full sync, catch it up " +
        'with the changes made meanwhile, verify it against the table (repairing what differs), then move the alias onto it in one ' +
        'atomic request; the index in use serves until then. After the swap the changes written around it are carried over, ' +
        'the alias is verified, and old indices beyond reindex.keep are deleted. Interrupted at any point, the next run goes on ' +
        'where it stopped. --rollback moves the alias back onto the index the current one was built from.',
    )
    .requiredOption('-p, --pipeline <name...>', 'pipelines whose index to rebuild (their index is an alias; see alias: true)')
    .option('--dry-run', 'show the plan (new index, mapping difference, estimated size and time), change nothing')
    .option('--rollback', 'move the alias back onto the index the current one was built from, and bring that up to date')
    .option('--no-swap', 'build, catch up and verify the new index, but leave the alias where it is (a later run swaps)')
    .option('--restart', 'drop an unfinished rebuild and start a new one')
    .option('--content', 'verify content too, not only versions, before and after the swap (reads every document; finds changes that left the version as it was, see docs/types.md on WRITETIME)')
    .option('--max-changes <n>', 'stop before the swap if the check finds more documents that the fill and the catch-up should have carried (rows written since, deleted rows and removed cells do not count), and before a repair after the swap that changes more (default: maxChanges of the config, 1000)', nonNegativeInt)
    .option('-y, --yes', 'no --max-changes limit')
    .option('--lease-ttl <ms>', 'expiry of the lease that keeps a second reindex of the pipeline out, at least 1000; a killed run blocks the next this long (default 30000)', leaseTtl)
    .option('--report <file>', 'write the reports as JSON')
    .option('--json', 'print the reports as JSON')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText(
      'after',
      '\nExit codes: 0 swapped (or, with --no-swap, built); 1 the new index refused documents and was not swapped in;' +
        '\n2 bad usage (the index is not an alias); 3 a store is unreachable; 4 interrupted (run it again to go on);' +
        '\n5 the check found more than --max-changes documents the fill and the catch-up should have carried, or the repair after the swap would change more; 6 another reindex of the pipeline is running.',
    );
  addConfigOption(cmd);
  cmd.action(async (flags: ReindexFlags) => {
    const config = await loadCliConfig(ctx, flags.config);
    const stores = await connectStores(config);
    const reports: ReindexReport[] = [];
    const plans: ReindexPlan[] = [];
    const say = (line: string) => {
      if (!flags.quiet || !ctx.interactive) ctx.stderr.write(`${line}\n`);
    };
    try {
      const pipelines = selectPipelines(await expandPipelines(config, stores), flags.pipeline);
      for (const p of pipelines) {
        if (ctx.signal.aborted) break;
        if (flags.dryRun) {
          plans.push(await inPipeline(p.name, () => planReindex(stores, p, { rollback: flags.rollback })));
          continue;
        }
        const progress = createProgress(`fill ${p.name}`, ctx.interactive && !flags.quiet);
        const options = {
          failures: () => new NdjsonFailureLedger(config.failureLedger),
          failureLedgerPath: config.failureLedger,
          signal: ctx.signal,
          owner: `${hostname()}:${process.pid}`,
          say: (line: string) => {
            progress.stop();
            say(line);
          },
          onProgress: progress.update,
          maxChanges: flags.yes ? undefined : (flags.maxChanges ?? config.maxChanges),
          swap: flags.swap,
          restart: flags.restart,
          content: flags.content,
          ...(flags.leaseTtl !== undefined ? { leaseTtlMs: flags.leaseTtl } : {}),
        };
        try {
          reports.push(await inPipeline(p.name, () => (flags.rollback ? rollbackPipeline(stores, p, options) : reindexPipeline(stores, p, options))));
        } finally {
          progress.stop();
        }
      }
    } finally {
      await stores.close();
    }
    const out = flags.dryRun ? { plans } : { reports };
    if (flags.report) await writeFile(flags.report, `${JSON.stringify(out, null, 2)}\n`);
    ctx.stdout.write(flags.json ? `${JSON.stringify(out, null, 2)}\n` : `${(flags.dryRun ? plans.map(describePlan) : reports.map(describeReport)).join('\n')}\n`);
    if (ctx.signal.aborted) setExitCode(EXIT.INTERRUPTED);
    else if (reports.some((r) => (r.refused ?? 0) > 0)) setExitCode(EXIT.DOCUMENTS_FAILED);
  });
  return cmd;
}

function leaseTtl(value: string): number {
  const ms = positiveInt(value);
  if (ms < 1000) throw new InvalidArgumentError('at least 1000 (milliseconds)');
  return ms;
}

const int = (n: number) => n.toLocaleString('en-US');
const megabytes = (b: number) => `${(b / 1048576).toFixed(1)} MB`;

export function describePlan(p: ReindexPlan): string {
  const lines: string[] = [];
  if (p.action === 'nothing') return `${p.pipeline}: nothing to do: ${p.reason}`;
  if (p.action === 'rollback') {
    return `${p.pipeline}: would move the alias ${p.alias} back from ${p.current} to ${p.next}, then bring ${p.next} up to date (catch-up from the rebuild of ${p.current}, verify, repair)`;
  }
  const on = `${p.current} (${int(p.currentIndex.documents)} documents, ${megabytes(p.currentIndex.bytes)})`;
  const verb = { build: 'would build', continue: 'would continue the unfinished rebuild', finish: 'would finish the rebuild swapped in:' }[p.action];
  lines.push(`${p.pipeline}: ${verb} ${p.next} behind the alias ${p.alias} (now on ${on})`);
  if (p.mapping) {
    const { added, removed, changed } = p.mapping;
    if (added.length + removed.length + changed.length === 0) lines.push('  mapping: the same fields and types as the index in use');
    if (added.length) lines.push(`  mapping: ${added.length} fields added: ${added.join(', ')}`);
    if (removed.length) lines.push(`  mapping: ${removed.length} fields removed: ${removed.join(', ')}`);
    for (const c of changed) lines.push(`  mapping: ${c.field}: ${c.from} -> ${c.to}`);
  }
  const e = p.estimate;
  const size = [e.documents !== undefined ? `~${int(e.documents)} documents` : undefined, e.bytes !== undefined ? `~${megabytes(e.bytes)}` : undefined].filter(Boolean).join(', ');
  const time = e.seconds !== undefined ? `~${formatSeconds(e.seconds)} to fill at ${int(e.rowsPerSecond!)} rows/s (${e.rateFrom})` : 'no finished full sync on record to estimate the time from';
  lines.push(`  estimate: ${size || 'size unknown'}; ${time}`);
  return lines.join('\n');
}

function formatSeconds(s: number): string {
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function describeReport(r: ReindexReport): string {
  const lines: string[] = [];
  if (!r.swapped) lines.push(`${r.pipeline}: ${r.index} not swapped in: ${r.notSwapped}`);
  else lines.push(`${r.pipeline}: alias ${r.alias} now on ${r.index} (was ${r.previous ?? 'nothing'}), ${(r.durationMs / 1000).toFixed(1)} s`);
  if (r.fill) lines.push(`  fill: ${int(r.fill.read)} rows read, ${int(r.fill.indexed)} written, ${r.fill.failed} failed${r.fill.resumedSpans ? ` (${r.fill.resumedSpans}/${r.fill.totalSpans} ranges done before)` : ''}`);
  if (r.catchUp.passes) lines.push(`  catch-up: ${r.catchUp.passes} passes (${r.catchUp.method}), ${int(r.catchUp.read)} changed rows, ${int(r.catchUp.indexed)} written`);
  if (r.check) lines.push(`  check: ${r.check.rounds} verify rounds, ${r.check.inSync ? 'in sync' : `${r.check.remaining} changed while comparing`}, ${r.check.repaired} repaired`);
  if (r.afterSwap) {
    const back = r.afterSwap.carriedBack ? `, ${r.afterSwap.carriedBack} carried back to the table` : '';
    lines.push(`  after the move: ${int(r.afterSwap.read)} changed rows, ${int(r.afterSwap.indexed)} written${back}; verify ${r.afterSwap.inSync ? 'in sync' : `found differences, ${r.afterSwap.repaired} repaired`}`);
  }
  if (r.documents) lines.push(`  documents: ${int(r.documents.index)} in ${r.index}${r.documents.table !== undefined ? `, ~${int(r.documents.table)} rows in the table (estimate)` : ''}`);
  if (r.deleted.length) lines.push(`  deleted: ${r.deleted.join(', ')}`);
  return lines.join('\n');
}
