/**
 * Creating the OpenSearch client from configuration, and turning its request errors into coded
 * errors. As for Elasticsearch, the client retries failed requests (connection errors, timeouts,
 * 502/503/504) `maxRetries` times; 429s on single bulk items are retried by the bulk helper.
 */
import { readFileSync } from 'node:fs';
import { Client, errors } from '@opensearch-project/opensearch';
import type { TargetConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';

export type OpenSearchClient = Client;

export function createOpenSearchClient(config: TargetConfig): OpenSearchClient {
  const { tls } = config;
  return new Client({
    node: Array.isArray(config.node) ? [...config.node] : config.node,
    auth: config.username ? { username: config.username, password: config.password ?? '' } : undefined,
    ssl:
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

/** Request failures worth sending again: overload, server errors, a node unreachable or slow. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof errors.ResponseError) {
    const status = error.statusCode ?? 0;
    return status === 429 || status >= 500;
  }
  return error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError;
}

export function openSearchError(cause: unknown, where: string): CesyncError {
  if (cause instanceof CesyncError) return cause;
  if (cause instanceof errors.ResponseError) {
    const status = cause.statusCode ?? 0;
    const body = cause.body as { error?: { reason?: string } | string } | undefined;
    const reason = (typeof body?.error === 'string' ? body.error : body?.error?.reason) ?? cause.message;
    if (status === 401 || status === 403) {
      return new CesyncError('STORE_AUTH', `OpenSearch at ${where} refused the credentials (${status}): ${reason}`, { cause });
    }
    if (status === 429 || status >= 500) {
      return new CesyncError('STORE_UNAVAILABLE', `OpenSearch at ${where} is overloaded or failing (${status}): ${reason}`, { cause });
    }
    return new CesyncError('STORE_REQUEST', `OpenSearch at ${where} refused a request (${status}): ${reason}`, { cause });
  }
  if (cause instanceof errors.ConnectionError || cause instanceof errors.TimeoutError || cause instanceof errors.NoLivingConnectionsError) {
    return new CesyncError('STORE_UNAVAILABLE', `OpenSearch at ${where} is unreachable: ${cause.message}`, { cause });
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return new CesyncError('STORE_REQUEST', `OpenSearch at ${where}: ${message}`, { cause });
}
