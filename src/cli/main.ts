/**
 * The `cesync` entry point: builds the command tree and is the one place that turns errors
 * into messages and exit codes (see errors.ts for the codes).
 */
import { Command, CommanderError, type Option } from 'commander';
import { redactText } from '../config/redact.js';
import { CesyncError, EXIT, exitCodeOf } from '../errors.js';
import { configCommand } from './commands/config.js';
import { reindexCommand } from './commands/reindex.js';
import { retryCommand } from './commands/retry.js';
import { serveCommand } from './commands/serve.js';
import { statusCommand } from './commands/status.js';
import { watchCommand } from './commands/watch.js';
import { consumeCommand } from './commands/consume.js';
import { syncCommand } from './commands/sync.js';
import { repairCommand, verifyCommand } from './commands/verify.js';
import type { CliContext } from './context.js';

export const VERSION = '0.1.0';

export async function main(argv: readonly string[]): Promise<number> {
  const abort = new AbortController();
  let exitCode: number = EXIT.OK;
  const ctx: CliContext = {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    interactive: Boolean(process.stderr.isTTY),
    secrets: [],
    signal: abort.signal,
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(EXIT.INTERRUPTED); // a second signal: stop now
    ctx.stderr.write(`\n${sig}: finishing the writes in flight, then stopping (again to stop at once)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const program = new Command('cesync')
    .description('Keep Apache Cassandra or PostgreSQL and Elasticsearch or OpenSearch consistent.')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) });
  program.addCommand(syncCommand(ctx, (code) => (exitCode = code)));
  program.addCommand(retryCommand(ctx, (code) => (exitCode = code)));
  program.addCommand(verifyCommand(ctx, (code) => (exitCode = code)));
  program.addCommand(repairCommand(ctx, (code) => (exitCode = code)));
  program.addCommand(reindexCommand(ctx, (code) => (exitCode = code)));
  program.addCommand(watchCommand(ctx));
  program.addCommand(consumeCommand(ctx));
  program.addCommand(statusCommand(ctx));
  program.addCommand(serveCommand(ctx));
  program.addCommand(configCommand(ctx));
  for (const c of program.commands) c.exitOverride();
  program.hook('preAction', (_program, action) => refuseFlagsAsValues(action));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const message = error instanceof CesyncError ? error.message : `internal error: ${(error as Error)?.stack ?? String(error)}`;
    ctx.stderr.write(`cesync: ${redactText(message, ctx.secrets)}\n`);
    return exitCodeOf(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * An option that takes a value takes the next word whatever it is, so `--ids --dry-run` would
 * sync an id named "--dry-run" for real. A value that is itself a flag is a forgotten value:
 * refused before anything runs.
 */
function refuseFlagsAsValues(cmd: Command): void {
  const flags = new Set(cmd.options.flatMap((o: Option) => [o.long, o.short]).filter((f): f is string => Boolean(f)));
  flags.add('--help').add('-h');
  const looksLikeFlag = (v: unknown) => typeof v === 'string' && (flags.has(v.split('=')[0]!) || /^--[A-Za-z]/.test(v));
  for (const o of cmd.options) {
    if (!o.required && !o.optional) continue;
    const name = o.attributeName();
    if (cmd.getOptionValueSource(name) !== 'cli') continue;
    const value: unknown = cmd.getOptionValue(name);
    const flag = (Array.isArray(value) ? value : [value]).find(looksLikeFlag);
    if (flag !== undefined) {
      throw new CesyncError('USAGE', `option '${o.flags}' is missing its value: it got the flag ${String(flag)} (put the value right after ${o.long ?? o.short})`);
    }
  }
}
