/**
 * Structured logs on stderr: JSON lines when stderr is not a terminal (for collectors), a
 * readable one-line form when it is. Every secret value of the configuration is scrubbed.
 */
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { REDACTED } from '../config/redact.js';

export type { Logger };

export function createLogger(options: { level: string; pretty: boolean }): Logger {
  const base = {
    level: options.level,
    base: undefined,
    // Paths that could hold secrets if someone logs a config object.
    redact: { paths: ['*.password', '*.apiKey', '*.*.password', '*.*.apiKey', 'password', 'apiKey'], censor: REDACTED },
  };
  if (options.pretty) {
    return pino(base, pretty({ destination: 2, sync: true, colorize: true, singleLine: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' }));
  }
  return pino(base, pino.destination({ dest: 2, sync: true }));
}
