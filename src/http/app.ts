/**
 * The HTTP API of `cesync serve`, compatible with Sunbird's Data Sync API:
 *
 *   POST /api/data/v1/index/sync   targeted sync of ids of one pipeline (Bearer key)
 *   GET  /health                   liveness: the process answers (no key)
 *   GET  /ready                    readiness: whether both stores answer (no key)
 *   GET  /metrics                  Prometheus metrics, when `metrics` is given (no key: counts
 *                                  by pipeline and class only, never document contents or ids)
 *   GET  /status                   the status page (HTML, no data; it asks for the key)
 *   GET  /api/status               the data it shows (Bearer key): status-data.ts
 *
 * `buildApp` only builds the app (tests drive it with `app.inject()`); the caller listens and
 * closes it. Requests share the stores; each runs its own targeted sync.
 *
 * @example
 *   const app = buildApp({ config, stores, logger });
 *   await app.listen({ host: '127.0.0.1', port: 9000 });
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';
import { secretValues, redactText } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import { NdjsonFailureLedger } from '../engine/failure-ledger.js';
import type { RunReport } from '../engine/run-report.js';
import { exposition, METRICS_PATH } from '../metrics/exposition.js';
import type { CesyncMetrics } from '../metrics/metrics.js';
import type { Stores } from '../sync/stores.js';
import { syncPipelineIds } from '../sync/sync-pipeline.js';
import { ApiError, toApiError } from './api-errors.js';
import { bearerKeyCheck, requireApiKey } from './bearer-auth.js';
import { errorEnvelope, msgidOf, successEnvelope, type EnvelopeContext } from './envelope.js';
import type { LagSampler } from './lag-sampler.js';
import { buildStatus } from './status-data.js';
import { STATUS_API_PATH, STATUS_CSP, STATUS_HTML, STATUS_PAGE_PATH, STATUS_SCRIPT, STATUS_SCRIPT_PATH, STATUS_STYLE, STATUS_STYLE_PATH } from './status-page.js';
import { probeStores } from './store-health.js';
import { parseSyncRequest } from './sync-request.js';

export interface AppDeps {
  readonly config: Readonly<Config>;
  readonly stores: Stores;
  readonly logger: Logger;
  /** Aborted when the server stops: syncs in flight finish their current batch and stop. */
  readonly signal?: AbortSignal;
  /** Milliseconds each store gets to answer `GET /ready` (default 5000). */
  readonly healthTimeoutMs?: number;
  readonly now?: () => Date;
  /** Metrics the syncs report to, served at GET /metrics; without them there is no such route. */
  readonly metrics?: CesyncMetrics;
  /** Watermark lag samples shown by the status page's charts (serve starts one); none without. */
  readonly lagSampler?: LagSampler;
}

export const SYNC_PATH = '/api/data/v1/index/sync';
const SYNC_API_ID = 'api.data.sync';

/** What `result` holds after a sync ran. */
export interface SyncResult {
  /** SUCCESS when every id is in the index (written or already up to date), else PARTIAL_SUCCESS. */
  readonly response: 'SUCCESS' | 'PARTIAL_SUCCESS';
  readonly objectType: string;
  readonly index: string;
  readonly counts: {
    readonly requested: number;
    readonly read: number;
    readonly indexed: number;
    readonly unchanged: number;
    readonly failed: number;
    readonly missing: number;
    readonly malformed: number;
    readonly duplicates: number;
  };
  readonly durationMs: number;
  readonly outcomes: NonNullable<RunReport['outcomes']>;
}

export type App = FastifyInstance;

/** Builds the app (does not listen). Throws a USAGE CesyncError when no API key is configured. */
export function buildApp(deps: AppDeps): App {
  const { config, stores } = deps;
  const isAuthorized = bearerKeyCheck(requireApiKey(config));
  const secrets = [...secretValues(config), ...(config.api.key ? [config.api.key] : [])];
  const now = deps.now ?? (() => new Date());
  const maxIds = config.api.maxIds;

  const loggerInstance: FastifyBaseLogger = deps.logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance,
    // One line per request, written below with only what is safe to log (never headers).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => randomUUID(),
    // Room for maxIds ids of up to ~500 bytes each, never less than fastify's 1 MiB default.
    bodyLimit: Math.max(1024 * 1024, maxIds * 512),
    return503OnClosing: true,
  });
  // Only JSON bodies: without this, text/plain would be accepted as a string.
  app.removeContentTypeParser('text/plain');

  const envelopeContext = (request: FastifyRequest, id = SYNC_API_ID): EnvelopeContext => ({
    id,
    resmsgid: request.id,
    msgid: msgidOf(request.body),
    now: now(),
  });

  const sendError = (request: FastifyRequest, reply: FastifyReply, error: ApiError, result: unknown = {}) => {
    const message = redactText(error.message, secrets);
    const id = request.url.split('?')[0] === SYNC_PATH ? SYNC_API_ID : 'api.cesync';
    return reply.code(error.status).send(errorEnvelope(envelopeContext(request, id), { code: error.code, message, responseCode: error.responseCode }, result));
  };

  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      { method: request.method, path: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  app.setErrorHandler(async (error, request, reply) => {
    const apiError = toApiError(error);
    if (apiError.code === 'INTERNAL_ERROR') {
      request.log.error({ err: redactText(String((error as Error)?.stack ?? error), secrets) }, 'request failed');
    } else if (apiError.status >= 500) {
      request.log.warn({ code: apiError.code, reason: redactText(apiError.message, secrets) }, 'request failed');
    }
    return sendError(request, reply, apiError);
  });

  app.setNotFoundHandler(async (request, reply) => sendError(request, reply, new ApiError('NOT_FOUND')));

  // Liveness: the process serves requests. It never depends on the stores, so an orchestrator
  // does not restart cesync while Cassandra or Elasticsearch is away (that is what /ready says).
  app.get('/health', async (_request, reply) => reply.code(200).send({ status: 'alive' }));

  // Readiness: both stores answer, each within healthTimeoutMs.
  app.get('/ready', async (request, reply) => {
    const health = await probeStores(stores, {
      timeoutMs: deps.healthTimeoutMs ?? 5000,
      onDown: (store, cause) => request.log.warn({ store, reason: redactText((cause as Error)?.message ?? String(cause), secrets) }, 'store down'),
    });
    return reply.code(health.status === 'ok' ? 200 : 503).send(health);
  });

  const { metrics } = deps;
  if (metrics) {
    app.get(METRICS_PATH, async (_request, reply) => {
      const { contentType, body } = await exposition(metrics.registry);
      return reply.code(200).type(contentType).send(body);
    });
  }

  // The status page: static text without data; its data needs the key.
  const page = (type: string, body: string) => async (_request: FastifyRequest, reply: FastifyReply) =>
    reply.code(200).type(type).header('content-security-policy', STATUS_CSP).header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache').send(body);
  app.get(STATUS_PAGE_PATH, page('text/html; charset=utf-8', STATUS_HTML));
  app.get(STATUS_SCRIPT_PATH, page('text/javascript; charset=utf-8', STATUS_SCRIPT));
  app.get(STATUS_STYLE_PATH, page('text/css; charset=utf-8', STATUS_STYLE));
  app.get(STATUS_API_PATH, {
    onRequest: async (request, reply) => {
      if (!isAuthorized(request.headers.authorization)) return sendError(request, reply, new ApiError('UNAUTHORIZED'));
    },
    handler: async (_request, reply) =>
      reply.code(200).header('cache-control', 'no-store').send(await buildStatus({ config, state: stores.state, lag: deps.lagSampler, now })),
  });

  app.post(SYNC_PATH, {
    // Before the body is read: an unauthorized caller gets nothing parsed and nothing synced.
    onRequest: async (request, reply) => {
      if (!isAuthorized(request.headers.authorization)) return sendError(request, reply, new ApiError('UNAUTHORIZED'));
    },
    handler: async (request, reply) => {
      const { pipeline, ids } = parseSyncRequest(request.body, { maxIds, pipelines: config.pipelines });
      const log = request.log.child({ objectType: pipeline.name, index: pipeline.index });
      log.info({ ids: ids.length }, 'sync started');
      const ledger = config.failureLedger;
      const report = await syncPipelineIds(
        stores,
        pipeline,
        ids.map((id, i) => ({ line: i + 1, fields: [id] })),
        {
          failures: new NdjsonFailureLedger(ledger),
          failureLedgerPath: ledger,
          signal: deps.signal,
          collectOutcomes: true,
          observer: metrics?.observer({ pipeline: pipeline.name, direction: 'to-elasticsearch' }),
          // api.maxIds bounds the request already.
          maxChanges: undefined,
        },
      );
      const { read, indexed, unchanged, failed, missing, malformed, duplicates, durationMs } = report;
      log.info({ read, indexed, unchanged, failed, missing, malformed, duplicates, durationMs }, 'sync finished');
      const result: SyncResult = {
        response: failed + missing + malformed === 0 ? 'SUCCESS' : 'PARTIAL_SUCCESS',
        objectType: pipeline.name,
        index: pipeline.index,
        counts: { requested: ids.length, read, indexed, unchanged, failed, missing, malformed, duplicates },
        durationMs,
        outcomes: report.outcomes ?? {},
      };
      if (report.interrupted) return sendError(request, reply, new ApiError('INTERRUPTED'), result);
      return reply.code(200).send(successEnvelope(envelopeContext(request), result));
    },
  });

  return app;
}
