/**
 * What every command shares: the environment, output streams, and the secrets to scrub from
 * anything printed. Built once in main.ts; commands receive it instead of reading globals.
 */
import type { Env } from '../config/load.js';

export interface CliContext {
  readonly env: Env;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal (progress bars, readable logs). */
  readonly interactive: boolean;
  /** Secret values seen in the configuration; scrubbed from every message. */
  readonly secrets: string[];
  /** Aborted on SIGINT/SIGTERM: long work stops cleanly at the next batch. */
  readonly signal: AbortSignal;
}
