/**
 * Creating the Elasticsearch client from configuration, and turning its request errors into
 * coded errors. The client retries failed requests (connection errors, timeouts, 502/503/504)
 * `maxRetries` times with exponential backoff and jitter; 429s on single bulk items are retried
 * by the bulk helper.
 */
import { readFileSync } from 'node:fs';
import { Client, errors } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';

export type ElasticsearchClient = Client;

export function createElasticsearchClient(config: ElasticsearchConfig): ElasticsearchClient {
  const { tls } = config;
  return new Client({
    node: Array.isArray(config.node) ? [...config.node] : config.node,
    auth: config.apiKey
      ? { apiKey: config.apiKey }
      : config.username
        ? { username: config.username, password: config.password ?? '' }
        : undefined,
    tls:
      tls && tls.enabled
        ? {
            ca: tls.caFile ? readFileSync(tls.caFile) : undefined,
            cert: tls.certFile ? readFileSync(tls.certFile) : undefined,
            key: tls.keyFile ? readFileSync(tls.keyFile) : undefined,
            rejectUnauthorized: tls.rejectUnauthorized,
          }
        : undefined,
    requestTimeout: config.requestTimeoutMs,
    maxRetries: config.maxRetries,
  });
}

export function elasticsearchError(cause: unknown, where: string): CesyncError {
  if (cause instanceof CesyncError) return cause;
  if (cause instanceof errors.ResponseError) {
    const status = cause.statusCode ?? 0;
    const reason = (cause.body as { error?: { reason?: string } } | undefined)?.error?.reason ?? cause.message;
    if (status === 401 || status === 403) {
      return new CesyncError('STORE_AUTH', `Elasticsearch at ${where} refused the credentials (${status}): ${reason}`, { cause });
    }
    if (status === 429 || status >= 500) {
      return new CesyncError('STORE_UNAVAILABLE', `Elasticsearch at ${where} is overloaded or failing (${status}): ${reason}`, { cause });
    }
    return new CesyncError('STORE_REQUEST', `Elasticsearch at ${where} refused a request (${status}): ${reason}`, { cause });
  }
  if (cause instanceof errors.ConnectionError || cause instanceof errors.TimeoutError || cause instanceof errors.NoLivingConnectionsError) {
    return new CesyncError('STORE_UNAVAILABLE', `Elasticsearch at ${where} is unreachable: ${cause.message}`, { cause });
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return new CesyncError('STORE_REQUEST', `Elasticsearch at ${where}: ${message}`, { cause });
}
