/** Options and parsing helpers used by several commands. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { configPath, loadConfig, type ConfigOverrides } from '../config/load.js';
import { secretValues } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import type { CliContext } from './context.js';
import { writeFile } from 'node:fs/promises';
import type { RunReport } from '../engine/run-report.js';
import type { ThrottleOptions } from '../engine/throttle.js';
import { CesyncError, EXIT } from '../errors.js';

export function addConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file (YAML); default: $CESYNC_CONFIG');
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number >= 0');
  return n;
}

/** A TCP port to listen on: 0 to 65535, 0 for any free port. */
export function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number, 0 to 65535 (0: any free port)');
  return n;
}

/** Throttle flags, or undefined to use the pipeline's configured throttle. */
export function throttleOptions(f: { blockSize?: number; sleep?: number; rate?: number }): ThrottleOptions | undefined {
  if (f.blockSize === undefined && f.sleep === undefined && f.rate === undefined) return undefined;
  if ((f.blockSize === undefined) !== (f.sleep === undefined)) throw new CesyncError('USAGE', '--block-size and --sleep go together');
  return { blockSize: f.blockSize, sleepMs: f.sleep, ratePerSecond: f.rate };
}

/** Prints the summary (or JSON) and writes --report. */
export async function writeReports(
  ctx: CliContext,
  reports: readonly RunReport[],
  flags: { report?: string; json?: boolean },
  summarise: (r: RunReport) => string,
): Promise<void> {
  if (flags.report) await writeFile(flags.report, `${JSON.stringify({ reports }, null, 2)}\n`);
  ctx.stdout.write(flags.json ? `${JSON.stringify({ reports }, null, 2)}\n` : `${reports.map(summarise).join('\n')}\n`);
}

/** 4 when interrupted, 1 when documents failed or requested ids were missing, else 0. */
export function exitCodeOfReports(reports: readonly RunReport[], signal: AbortSignal): number {
  if (signal.aborted || reports.some((r) => r.interrupted)) return EXIT.INTERRUPTED;
  if (reports.some((r) => r.failed > 0 || r.malformed > 0 || (r.missing > 0 && r.deleted < r.missing && !r.dryRun))) return EXIT.DOCUMENTS_FAILED;
  return EXIT.OK;
}

/** Dates JavaScript (and so reports and Elasticsearch) can represent: ±8.64e15 ms around the epoch. */
const MAX_DATE_MS = 8.64e15;

/**
 * `--since` (and `--from`, `--to`): an ISO 8601 time, epoch milliseconds, or an age (`30m`,
 * `24h`, `7d`) before `now`. Returns microseconds since the epoch (the unit of versions).
 * `flag` names the option in errors; a time after `now` is one unless `allowFuture`.
 */
export function parseSince(text: string, now: number, flag = '--since', allowFuture = false): number {
  const age = /^(\d+)(s|m|h|d)$/.exec(text);
  const ms = age
    ? now - Number(age[1]) * { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7 }[age[2] as 's' | 'm' | 'h' | 'd']
    : /^\d+$/.test(text)
      ? Number(text)
      : /^\d{4}-\d{2}-\d{2}/.test(text)
        ? Date.parse(text)
        : Number.NaN;
  if (Number.isNaN(ms)) throw new CesyncError('USAGE', `${flag} ${JSON.stringify(text)}: expected an ISO time (2025-01-31T12:00:00Z), epoch milliseconds, or an age like 30m, 24h, 7d`);
  if (Math.abs(ms) > MAX_DATE_MS) throw new CesyncError('USAGE', `${flag} ${JSON.stringify(text)}: out of range (times go up to the year 275760)`);
  if (ms > now && !allowFuture) throw new CesyncError('USAGE', `${flag} ${text}: ${new Date(ms).toISOString()} is in the future`);
  return ms * 1000;
}

export const logLevelOption = () =>
  new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info');

/**
 * Runs the work of one pipeline, naming the pipeline in the errors that concern its table, index
 * or settings (a configuration may hold several pipelines on the same table).
 */
export async function inPipeline<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof CesyncError && (e.code === 'SCHEMA_MISMATCH' || e.code === 'USAGE') && !e.message.startsWith(`pipeline ${name}: `)) {
      throw new CesyncError(e.code, `pipeline ${name}: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/** Loads and validates the configuration, remembering its secrets for scrubbing. */
export async function loadCliConfig(ctx: CliContext, flag: string | undefined, overrides: ConfigOverrides = {}): Promise<Readonly<Config>> {
  const config = await loadConfig(configPath(flag, ctx.env), ctx.env, overrides);
  ctx.secrets.push(...secretValues(config));
  return config;
}
