/**
 * `--metrics-port N` / `--metrics-host HOST` of long-running commands (`watch`, `sync`): while the
 * command runs, GET http://HOST:N/metrics serves its Prometheus metrics (docs/metrics.md). Without
 * `--metrics-port`, no metrics are kept and nothing listens.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { CesyncError } from '../errors.js';
import { METRICS_PATH, serveMetrics, type MetricsServer } from '../metrics/exposition.js';
import { CesyncMetrics } from '../metrics/metrics.js';
import { portNumber } from './shared-options.js';

export interface MetricsFlags {
  metricsPort?: number;
  metricsHost: string;
}

export function addMetricsOptions(cmd: Command): Command {
  return cmd
    .option('--metrics-port <n>', `serve Prometheus metrics on GET http://<metrics-host>:<n>${METRICS_PATH} while running (0: any free port, logged); no key, no document contents or ids`, portNumber)
    .option('--metrics-host <host>', 'address for --metrics-port', '127.0.0.1');
}

/** Metrics and their server when `--metrics-port` was given; `close()` stops the server (a no-op otherwise). */
export async function startMetrics(flags: MetricsFlags, log: Logger): Promise<{ metrics?: CesyncMetrics; close(): Promise<void> }> {
  if (flags.metricsPort === undefined) return { close: async () => undefined };
  const metrics = new CesyncMetrics();
  let server: MetricsServer;
  try {
    server = await serveMetrics(metrics.registry, { host: flags.metricsHost, port: flags.metricsPort });
  } catch (cause) {
    throw new CesyncError('USAGE', `cannot serve metrics on ${flags.metricsHost}:${flags.metricsPort}: ${(cause as Error).message}`, { cause });
  }
  log.info({ metrics: `${server.url}${METRICS_PATH}` }, 'metrics served');
  return { metrics, close: () => server.close() };
}
