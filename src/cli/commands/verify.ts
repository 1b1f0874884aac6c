/**
 * `cesync verify` and `cesync repair`: find every difference between a table and its index, and
 * fix exactly those. Thin: options in, use cases from src/sync/verify-pipeline.ts, reports out.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { redactText } from '../../config/redact.js';
import { NdjsonFailureLedger } from '../../engine/failure-ledger.js';
import { summarise, type RunReport } from '../../engine/run-report.js';
import { DRIFT_CLASSES, type VerifyReport } from '../../engine/verify.js';
import { CesyncError, EXIT } from '../../errors.js';
import { connectStores, type Stores } from '../../sync/stores.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import { selectPipelines } from '../../sync/sync-pipeline.js';
import { repairPipeline, verifyPipeline, type RepairPlan } from '../../sync/verify-pipeline.js';
import type { Config, PipelineConfig } from '../../config/schema.js';
import type { CliContext } from '../context.js';
import { createProgress } from '../progress.js';
import { addConfigOption, exitCodeOfReports, inPipeline, loadCliConfig, nonNegativeInt, parseSince, writeReports } from '../shared-options.js';

interface VerifyFlags {
  config?: string;
  pipeline?: string[];
  content?: boolean;
  since?: string;
  report?: string;
  json?: boolean;
  quiet?: boolean;
}

export function verifyCommand(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const cmd = new Command('verify')
    .summary('report every difference between tables and their indices')
    .description(
      'Compare each table with its index and report, per class, the exact ids: missing (row, no document), ' +
        'orphan (document, no row), stale (document older than its row) and different (same version, other content; ' +
        'with --content, or a document newer than its row). Cheap where they agree: ranges of the table (token ranges, key ranges) are compared by ' +
        'count and hash sums first, and only ranges that differ are read id by id.',
    )
    .option('-p, --pipeline <name...>', 'pipelines to verify (default: all); a tables pipeline by its name (all its tables) or NAME.TABLE (one)')
    .option('--content', 'also compare every document with a fresh conversion of its row (finds edits made in Elasticsearch; reads everything)')
    .option('--since <time>', 'only rows and documents written since: ISO time, epoch ms, or an age like 30m, 24h, 7d')
    .option('--report <file>', 'write the full report (every id per class) as JSON')
    .option('--json', 'print the full report as JSON on stdout')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText('after', '\nExit codes: 0 in sync; 1 differences found; 2 bad usage or configuration; 3 a store is unreachable.');
  addConfigOption(cmd);
  cmd.action(async (flags: VerifyFlags) => {
    const config = await loadCliConfig(ctx, flags.config);
    const sinceVersion = flags.since !== undefined ? parseSince(flags.since, Date.now()) : undefined;
    const stores = await connectStores(config);
    const reports: VerifyReport[] = [];
    try {
      const pipelines = selectPipelines(await expandPipelines(config, stores), flags.pipeline);
      for (const p of pipelines) reports.push(await inPipeline(p.name, () => runVerify(ctx, stores, p, { content: flags.content, sinceVersion, quiet: flags.quiet })));
    } finally {
      await stores.close();
    }
    if (flags.report) await writeFile(flags.report, `${JSON.stringify({ reports }, null, 2)}\n`);
    ctx.stdout.write(flags.json ? `${JSON.stringify({ reports }, null, 2)}\n` : `${reports.map(summariseVerify).join('\n')}\n`);
    setExitCode(reports.every((r) => r.inSync) ? EXIT.OK : EXIT.DOCUMENTS_FAILED);
  });
  return cmd;
}

interface RepairFlags extends VerifyFlags {
  dryRun?: boolean;
  plan?: string;
  maxChanges?: number;
  yes?: boolean;
}

export function repairCommand(ctx: CliContext, setExitCode: (code: number) => void): Command {
  const cmd = new Command('repair')
    .summary('fix exactly the differences verify finds')
    .description(
      'Verify, then fix exactly the differences: re-sync missing, stale and different ids from Cassandra and delete ' +
        'orphan documents. Every action re-reads the row when it is applied and writes with a version guard, so a ' +
        'repair never overwrites a newer document and never deletes a document whose row was written meanwhile. ' +
        '--dry-run writes the plan to a file instead; --plan FILE applies a saved plan.',
    )
    .option('-p, --pipeline <name...>', 'pipelines to repair (default: all; with --plan: the plan\'s); a tables pipeline by its name (all its tables) or NAME.TABLE (one)')
    .option('--content', 'verify content too (see cesync verify --help)')
    .option('--since <time>', 'only rows and documents written since (see cesync verify --help)')
    .option('--dry-run', 'write the plan, change nothing')
    .option('--plan <file>', 'with --dry-run: where to write the plan (default cesync-repair-<pipeline>.json); without: the plan to apply')
    .option('--max-changes <n>', 'stop before changing anything if more documents would change (default: maxChanges of the config, 1000)', nonNegativeInt)
    .option('-y, --yes', 'go on even when more than --max-changes documents would change')
    .option('--report <file>', 'write the run report as JSON')
    .option('--json', 'print the run report as JSON')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText('after', '\nExit codes: 0 repaired (or nothing to do); 1 some documents failed; 2 bad usage; 3 a store is unreachable; 5 stopped by --max-changes.');
  addConfigOption(cmd);
  cmd.action(async (flags: RepairFlags) => {
    const config = await loadCliConfig(ctx, flags.config);
    const saved = !flags.dryRun && flags.plan ? await readPlan(flags.plan) : undefined;
    const sinceVersion = flags.since !== undefined ? parseSince(flags.since, Date.now()) : undefined;
    const stores = await connectStores(config);
    const reports: RunReport[] = [];
    const verifies: VerifyReport[] = [];
    try {
      const pipelines = selectPipelines(await expandPipelines(config, stores), saved ? [saved.pipeline] : flags.pipeline);
      for (const p of pipelines) {
        const plan: RepairPlan = saved ?? (await inPipeline(p.name, () => runVerify(ctx, stores, p, { content: flags.content, sinceVersion, quiet: flags.quiet })));
        if (!saved) verifies.push(plan as VerifyReport);
        if (flags.dryRun) {
          const file = pipelines.length === 1 && flags.plan ? flags.plan : `cesync-repair-${p.name}.json`;
          await writeFile(file, `${JSON.stringify(plan, null, 2)}\n`);
          ctx.stderr.write(`${p.name}: plan written to ${file} (apply it with: cesync repair --plan ${file})\n`);
          continue;
        }
        reports.push(await inPipeline(p.name, () => applyPlan(stores, config, p, plan, flags, ctx)));
      }
    } finally {
      await stores.close();
    }
    if (flags.dryRun) {
      if (flags.report) await writeFile(flags.report, `${JSON.stringify({ reports: verifies }, null, 2)}\n`);
      ctx.stdout.write(flags.json ? `${JSON.stringify({ reports: verifies }, null, 2)}\n` : `${verifies.map(summariseVerify).join('\n')}\n`);
      return;
    }
    await writeReports(ctx, reports, flags, summarise);
    setExitCode(exitCodeOfReports(reports, ctx.signal));
  });
  return cmd;
}

async function runVerify(
  ctx: CliContext,
  stores: Stores,
  p: PipelineConfig,
  o: { content?: boolean; sinceVersion?: number; quiet?: boolean },
): Promise<VerifyReport> {
  const progress = createProgress(`verify ${p.name}`, ctx.interactive && !o.quiet);
  try {
    return await verifyPipeline(stores, p, {
      content: o.content,
      sinceVersion: o.sinceVersion,
      signal: ctx.signal,
      onProgress: (scanned, fraction) => progress.update({ read: scanned }, fraction > 0 ? Math.max(scanned, Math.round(scanned / fraction)) : undefined),
      onWarning: (message) => ctx.stderr.write(`cesync: warning: ${redactText(message, ctx.secrets)}\n`),
    });
  } finally {
    progress.stop();
  }
}

async function applyPlan(stores: Stores, config: Readonly<Config>, p: PipelineConfig, plan: RepairPlan, flags: RepairFlags, ctx: CliContext): Promise<RunReport> {
  return repairPipeline(stores, p, plan, {
    failures: new NdjsonFailureLedger(config.failureLedger),
    failureLedgerPath: config.failureLedger,
    signal: ctx.signal,
    maxChanges: flags.yes ? undefined : (flags.maxChanges ?? config.maxChanges),
  });
}

async function readPlan(file: string): Promise<RepairPlan> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new CesyncError('USAGE', `cannot read repair plan ${file}: ${(cause as Error).message}`, { cause });
  }
  const notAPlan = (why: string) =>
    new CesyncError('USAGE', `${file} is not a repair plan (expected "pipeline" and "ids" with ${DRIFT_CLASSES.join(', ')}, as cesync repair --dry-run writes it): ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw notAPlan(isSyncPlan(text) ? 'it is the plan of a sync dry run (cesync sync --dry-run --plan), which is not applied' : `not JSON (${(cause as Error).message})`);
  }
  if (isSyncPlan(text)) throw notAPlan('it is the plan of a sync dry run (cesync sync --dry-run --plan), which is not applied');
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw notAPlan(`it holds ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : `a ${typeof raw}`}`);
  const plan = raw as Partial<RepairPlan>;
  if (typeof plan.pipeline !== 'string' || plan.pipeline === '') throw notAPlan('"pipeline" is missing or not a string');
  if (!plan.ids || typeof plan.ids !== 'object') throw notAPlan('"ids" is missing');
  for (const c of DRIFT_CLASSES) {
    const ids: unknown = plan.ids[c];
    if (!Array.isArray(ids)) throw notAPlan(`"ids.${c}" is missing or not a list`);
    const bad = ids.findIndex((id) => typeof id !== 'string' || id === '');
    if (bad >= 0) throw notAPlan(`ids.${c}[${bad}] is ${String(JSON.stringify(ids[bad])).slice(0, 60)}, not a document id`);
  }
  return plan as RepairPlan;
}

/** Whether a file's first line is a line of a sync dry run's plan (`{"action":...,"id":...}`). */
function isSyncPlan(text: string): boolean {
  try {
    const first = JSON.parse(text.split('\n', 1)[0] ?? '') as unknown;
    return !!first && typeof first === 'object' && 'action' in first && 'id' in first;
  } catch {
    return false;
  }
}

export function summariseVerify(r: VerifyReport): string {
  const head = r.inSync ? `${r.pipeline}: in sync` : `${r.pipeline}: ${DRIFT_CLASSES.map((c) => `${c} ${r.counts[c]}`).join(', ')}`;
  let out = `${head} (${r.spansDiffering}/${r.spans} ranges read in detail, ${r.rowsScanned} rows scanned, ${Math.round(r.bytesReadFromIndex / 1024)} KiB from the index, ${(r.durationMs / 1000).toFixed(1)}s)`;
  for (const c of DRIFT_CLASSES) if (r.ids[c].length) out += `\n  ${c}: ${r.ids[c].slice(0, 10).join(', ')}${r.ids[c].length > 10 ? ', ...' : ''}`;
  return out;
}
