/** Options and parsing helpers used by several commands. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { configPath, loadConfig, type ConfigOverrides } from '../config/load.js';
import { secretValues } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import type { CliContext } from './context.js';

export function addConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file (YAML); default: $CESYNC_CONFIG');
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export const logLevelOption = () =>
  new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info');

/** Loads and validates the configuration, remembering its secrets for scrubbing. */
export async function loadCliConfig(ctx: CliContext, flag: string | undefined, overrides: ConfigOverrides = {}): Promise<Readonly<Config>> {
  const config = await loadConfig(configPath(flag, ctx.env), ctx.env, overrides);
  ctx.secrets.push(...secretValues(config));
  return config;
}
