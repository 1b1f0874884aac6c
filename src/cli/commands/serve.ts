/**
 * `cesync serve`: the HTTP API (Sunbird's Data Sync API: targeted syncs of ids, and a health
 * check). Thin: loads the configuration, connects the stores, builds the app, listens until
 * SIGINT/SIGTERM, then closes the server (requests in flight finish) and the stores.
 */
import { Command } from 'commander';
import { redactText } from '../../config/redact.js';
import { CesyncError } from '../../errors.js';
import { buildApp, SYNC_PATH } from '../../http/app.js';
import { requireApiKey } from '../../http/bearer-auth.js';
import { directionsOf, LagSampler } from '../../http/lag-sampler.js';
import { STATUS_PAGE_PATH } from '../../http/status-page.js';
import { METRICS_PATH } from '../../metrics/exposition.js';
import { CesyncMetrics } from '../../metrics/metrics.js';
import { connectStores } from '../../sync/stores.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import type { CliContext } from '../context.js';
import { createLogger } from '../logger.js';
import { addConfigOption, loadCliConfig, logLevelOption, portNumber } from '../shared-options.js';

interface ServeFlags {
  config?: string;
  host: string;
  port: number;
  logLevel: string;
}

export function serveCommand(ctx: CliContext): Command {
  const cmd = new Command('serve')
    .summary("serve the HTTP sync API (Sunbird's POST /api/data/v1/index/sync)")
    .description(
      "Serve an HTTP API compatible with Sunbird's Data Sync API. POST /api/data/v1/index/sync with " +
        '{"request":{"objectType":"<pipeline>","objectIds":[...]}} syncs exactly those ids, as `cesync sync --pipeline ' +
        '<pipeline> --ids ...` does (the pipeline of one table of a tables pipeline is NAME.TABLE, its tables as they are ' +
        'when the server starts), and answers with what happened to each id. It needs the header ' +
        'Authorization: Bearer <key>, the key being api.key of the configuration or CESYNC_API_KEY; without a key the ' +
        'server does not start. GET /health answers 200 while the process is alive (liveness); GET /ready answers 200 when the stores (Cassandra or PostgreSQL, and Elasticsearch or OpenSearch) answer, 503 otherwise (readiness). ' +
        'GET /metrics serves Prometheus metrics (rows, documents by outcome, failures, retries, bulk latency: ' +
        'docs/metrics.md) without a key, as Prometheus scrapes; they hold counts only, never document contents or ids. ' +
        'GET /status is a status page for a browser: it asks for the API key, then shows each pipeline\'s last full sync, ' +
        'progress, watermarks and their lag over the last hour (sampled by the server every 30 s, kept in memory), lease ' +
        'holder, failure ledger and last verify, refreshed every 5 s from GET /api/status (JSON, the same Bearer key). ' +
        'Failed documents go to the failure ledger of the configuration. Stops cleanly on SIGINT/SIGTERM.',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', portNumber, 9000)
    .addOption(logLevelOption())
    .addHelpText(
      'after',
      '\nExample:\n' +
        '  CESYNC_API_KEY=$(openssl rand -hex 24) cesync serve --config cesync.yaml --port 9000\n' +
        `  curl -X POST http://127.0.0.1:9000${SYNC_PATH} \\\n` +
        '    -H "Authorization: Bearer $CESYNC_API_KEY" -H \'Content-Type: application/json\' \\\n' +
        '    -d \'{"request":{"objectType":"user","objectIds":["3150aa06-333e-4d6d-8d81-3d8e14e7b245"]}}\'\n' +
        '  curl http://127.0.0.1:9000/ready\n' +
        `  curl http://127.0.0.1:9000${METRICS_PATH}\n` +
        `  open http://127.0.0.1:9000${STATUS_PAGE_PATH} in a browser (it asks for the key)\n\n` +
        'See docs/http-api.md for the responses and error codes.',
    );
  addConfigOption(cmd);

  cmd.action(async (flags: ServeFlags) => {
    const config = await loadCliConfig(ctx, flags.config);
    // Checked before connecting: no key, no server.
    ctx.secrets.push(requireApiKey(config));
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const stores = await connectStores(config);
    try {
      // objectType names a pipeline as expanded: a `tables` pipeline's tables are NAME.TABLE.
      const expanded = await expandPipelines(config, stores);
      const metrics = new CesyncMetrics();
      const stopVerifies = metrics.followVerifies(
        expanded.pipelines.map((p) => p.name),
        (p) => stores.state.loadVerify(p),
      );
      const lagSampler = new LagSampler({
        pipelines: expanded.pipelines.map((p) => ({ name: p.name, directions: directionsOf(p.direction) })),
        loadWatermark: (p, d) => stores.state.loadWatermark(p, d),
        onError: (pipeline, direction, cause) => log.warn({ pipeline, direction, reason: redactText((cause as Error)?.message ?? String(cause), ctx.secrets) }, 'lag sample failed'),
      });
      const app = buildApp({ config: expanded, stores, logger: log, signal: ctx.signal, metrics, lagSampler });
      let address: string;
      try {
        address = await app.listen({ host: flags.host, port: flags.port });
      } catch (cause) {
        await app.close();
        throw new CesyncError('USAGE', `cannot listen on ${flags.host}:${flags.port}: ${(cause as Error).message}`, { cause });
      }
      lagSampler.start();
      log.info({ address, pipelines: expanded.pipelines.map((p) => p.name) }, 'listening');
      ctx.stdout.write(`cesync serve: listening on ${address} (POST ${address}${SYNC_PATH}, GET ${address}/health, GET ${address}/ready, GET ${address}${METRICS_PATH}, GET ${address}${STATUS_PAGE_PATH})\n`);
      await aborted(ctx.signal);
      log.info('stopping: finishing the requests in flight');
      stopVerifies();
      await lagSampler.stop();
      await app.close();
    } finally {
      await stores.close();
    }
  });
  return cmd;
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
