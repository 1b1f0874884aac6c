/**
 * OpenSearch (2.4 and newer, 3.x) as the search port, through the official client
 * `@opensearch-project/opensearch`. The same REST calls as for Elasticsearch, with OpenSearch's
 * own point-in-time API (`/_search/point_in_time`), request bodies under `body`, answers under
 * `.body`, and aborts through the request handle rather than an AbortSignal.
 */
import type { Readable } from 'node:stream';
import { errors } from '@opensearch-project/opensearch';
import type { TargetConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';
import type { BulkStream, IndexInfo, ResolvedName, SearchAnswer, SearchApi, SearchDialect, SearchOptions, SearchServer, StoredDocument } from '../search-index/api.js';
import { aliasActions, aliasMoved, indexInfo } from '../search-index/alias-requests.js';
import { describeNodes } from '../search-index/describe-nodes.js';
import { readBody } from '../search-index/response-text.js';
import { runBulk, type BulkTransport } from '../search-index/bulk-driver.js';
import { openSearchBulk } from './bulk.js';
import { createOpenSearchClient, openSearchError, type OpenSearchClient } from './client.js';

/** Oldest release cesync writes to: points in time came with 2.4. */
const OLDEST = { major: 2, minor: 4 };

export function openSearchDialect(server: Pick<SearchServer, 'major' | 'minor'>): SearchDialect {
  const atLeast = (major: number, minor: number) => server.major > major || (server.major === major && server.minor >= minor);
  return {
    // `flat_object` came with 2.7; OpenSearch has no `subobjects: false`.
    dataKeyedObject: atLeast(2, 7) ? 'flat_object' : 'stored',
    // 2.x refuses `_shard_doc` ("No mapping found for [_shard_doc]"), and `_doc` is per shard, not
    // unique across them: `_id` (fielddata on _id is allowed on OpenSearch) orders a point in time
    // totally. `_shard_doc` came with 3.3.
    pitTiebreaker: atLeast(3, 3) ? { _shard_doc: 'asc' } : { _id: 'asc' },
  };
}

/**
 * Opens the client, asks the server what it is (`GET /`), and refuses what is not OpenSearch,
 * what cesync cannot write to, or what the configuration does not expect (`version`).
 */
export async function connectOpenSearch(config: TargetConfig): Promise<SearchApi> {
  const where = describeNodes(config);
  const client = createOpenSearchClient(config);
  try {
    const server = await detect(client, where);
    if (server.major < OLDEST.major || (server.major === OLDEST.major && server.minor < OLDEST.minor)) {
      throw new CesyncError('CONFIG_INVALID', `OpenSearch at ${where} runs ${server.version}; cesync needs ${OLDEST.major}.${OLDEST.minor} or newer (points in time)`);
    }
    if (config.version !== undefined && config.version !== server.major) {
      throw new CesyncError('CONFIG_INVALID', `opensearch.version is ${config.version}, but the server at ${where} runs OpenSearch ${server.version}`);
    }
    return new OpenSearchApi(client, server, where);
  } catch (e) {
    await client.close().catch(() => undefined);
    throw e;
  }
}

/** The port over a client of `config`, for a server already known (no request is made). */
export function openSearchApi(config: TargetConfig, server: SearchServer): SearchApi {
  return new OpenSearchApi(createOpenSearchClient(config), server, describeNodes(config));
}

async function detect(client: OpenSearchClient, where: string): Promise<SearchServer> {
  const notOpenSearch = (what: string, cause?: unknown) =>
    new CesyncError('CONFIG_INVALID', `the server at ${where} is not OpenSearch (${what}): an Elasticsearch cluster is configured under elasticsearch:, not opensearch:`, { cause });
  let info: { version?: { number?: string; distribution?: string } };
  try {
    await client.cluster.health({ timeout: '10s' }, { maxRetries: 1, requestTimeout: 15_000 });
    info = (await client.info({}, { maxRetries: 1, requestTimeout: 15_000 })).body as typeof info;
  } catch (cause) {
    // Elasticsearch's integration-test distribution does not serve `GET /`.
    if (cause instanceof errors.ResponseError && cause.statusCode === 405) throw notOpenSearch('GET / is not allowed there', cause);
    throw openSearchError(cause, where);
  }
  if (info.version?.distribution !== 'opensearch') throw notOpenSearch(`it reports version ${info.version?.number ?? 'unknown'} without distribution opensearch`);
  const version = info.version.number ?? '0.0.0';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return { product: 'opensearch', version, major, minor };
}


/** A request of this client, aborted when `signal` is. */
function abortable<R>(request: Promise<R> & { abort?: () => void }, signal: AbortSignal | undefined): Promise<R> {
  if (!signal) return request;
  if (signal.aborted) request.abort?.();
  const onAbort = () => request.abort?.();
  signal.addEventListener('abort', onAbort, { once: true });
  return request.finally(() => signal.removeEventListener('abort', onAbort)).catch((e: unknown) => {
    throw signal.aborted ? (signal.reason ?? e) : e;
  });
}

class OpenSearchApi implements SearchApi {
  readonly dialect: SearchDialect;
  private readonly client: OpenSearchClient;
  readonly server: SearchServer;
  readonly where: string;
  private readonly bulkTransport: BulkTransport;

  constructor(client: OpenSearchClient, server: SearchServer, where: string) {
    this.client = client;
    this.bulkTransport = openSearchBulk(client);
    this.server = server;
    this.where = where;
    this.dialect = openSearchDialect(server);
  }

  error(cause: unknown): CesyncError {
    return openSearchError(cause, this.where);
  }

  /** `fn`'s failure as a coded error; a failure after `signal` aborted passes through as it is (a stop, not a failure). */
  private async call<R>(fn: () => Promise<R>, signal?: AbortSignal): Promise<R> {
    try {
      return await fn();
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw this.error(cause);
    }
  }

  indexExists(index: string): Promise<boolean> {
    return this.call(async () => (await this.client.indices.exists({ index })).body === true);
  }

  deleteIndex(index: string | readonly string[]): Promise<void> {
    return this.call(async () => {
      await this.client.indices.delete({ index: typeof index === 'string' ? index : [...index], ignore_unavailable: true } as never);
    });
  }

  createIndex(index: string, body: { mappings: Record<string, unknown>; settings: Record<string, unknown>; aliases?: Record<string, unknown> }): Promise<boolean> {
    return this.call(async () => {
      try {
        await this.client.indices.create({ index, body } as never);
        return true;
      } catch (e) {
        if ((e as { body?: { error?: { type?: string } } }).body?.error?.type === 'resource_already_exists_exception') return false;
        throw e;
      }
    });
  }

  count(index: string): Promise<number> {
    return this.call(async () => (await this.client.count({ index })).body.count);
  }

  mappingMeta(index: string): Promise<Record<string, unknown> | undefined> {
    return this.call(async () => {
      const res = (await this.client.indices.getMapping({ index })).body as Record<string, { mappings?: { _meta?: Record<string, unknown> } }>;
      return Object.values(res)[0]?.mappings?._meta;
    });
  }

  putMappingMeta(index: string, meta: Record<string, unknown>): Promise<void> {
    return this.call(async () => {
      await this.client.indices.putMapping({ index, body: { _meta: meta } });
    });
  }

  putSettings(index: string, settings: Record<string, unknown>): Promise<void> {
    return this.call(async () => {
      await this.client.indices.putSettings({ index, body: settings });
    });
  }

  fieldTypes(index: string, field: string): Promise<string[]> {
    return this.call(async () => {
      const res = (await this.client.indices.getFieldMapping({ index, fields: field })).body as Record<string, { mappings: Record<string, { mapping: Record<string, { type?: string }> }> }>;
      return Object.values(res).flatMap((i) => Object.values(i.mappings).map((m) => String(Object.values(m.mapping)[0]?.type)));
    });
  }

  refresh(index: string, options: SearchOptions = {}): Promise<void> {
    return this.call(async () => {
      await abortable(this.client.indices.refresh({ index }), options.signal);
    }, options.signal);
  }

  mget(index: string, ids: readonly string[], source: { includes?: string[]; excludes?: string[] }): Promise<StoredDocument[]> {
    return this.call(async () => {
      const res = await this.client.mget({
        index,
        body: { ids: [...ids] },
        ...(source.includes ? { _source_includes: source.includes } : {}),
        ...(source.excludes ? { _source_excludes: source.excludes } : {}),
      } as never);
      const docs = (res.body as { docs: { _id: string; _version?: number; found?: boolean; _source?: Record<string, unknown> }[] }).docs;
      return docs.filter((d) => d.found).map((d) => ({ _id: d._id, _version: d._version ?? 0, _source: d._source }));
    });
  }

  async bulk<T>(stream: BulkStream<T>): Promise<void> {
    await this.call(() => runBulk(this.bulkTransport, stream));
  }

  search(index: string | undefined, body: Record<string, unknown>, options: SearchOptions = {}): Promise<SearchAnswer> {
    return this.call(async () => (await abortable(this.client.search({ ...(index ? { index } : {}), body } as never), options.signal)).body as unknown as SearchAnswer, options.signal);
  }

  searchParsed(index: string | undefined, body: Record<string, unknown>, reviver: (key: string, value: unknown) => unknown, options: SearchOptions = {}): Promise<SearchAnswer> {
    return this.call(async () => {
      const res = await abortable(this.client.search({ ...(index ? { index } : {}), body } as never, { asStream: true }), options.signal);
      const text = await readBody(res.body as unknown as Readable, String(res.headers?.['content-encoding'] ?? ''));
      if (res.statusCode !== null && res.statusCode >= 400) throw new errors.ResponseError({ ...res, body: parseOrText(text) } as never);
      return JSON.parse(text, reviver) as SearchAnswer;
    }, options.signal);
  }

  openPointInTime(index: string, keepAlive: string, options: SearchOptions = {}): Promise<string> {
    return this.call(async () => {
      const res = await abortable(this.client.createPit({ index: [index], keep_alive: keepAlive }), options.signal);
      return (res.body as { pit_id: string }).pit_id;
    }, options.signal);
  }

  async closePointInTime(id: string): Promise<void> {
    await this.client.deletePit({ body: { pit_id: [id] } }).catch(() => undefined);
  }

  resolveName(name: string): Promise<ResolvedName> {
    return this.call(async () => {
      if ((await this.client.indices.existsAlias({ name })).body === true) {
        return { kind: 'alias', indices: Object.keys((await this.client.indices.getAlias({ name })).body as Record<string, unknown>).sort() };
      }
      return (await this.client.indices.exists({ index: name })).body === true ? { kind: 'index' } : { kind: 'missing' };
    });
  }

  listIndices(pattern: string): Promise<IndexInfo[]> {
    return this.call(async () => {
      const res = await this.client.cat.indices({ index: pattern, format: 'json', h: 'index,status,creation.date,pri.store.size', bytes: 'b', expand_wildcards: 'all' } as never);
      return (res.body as unknown as Record<string, string | undefined>[]).map(indexInfo);
    });
  }

  moveAlias(alias: string, from: readonly string[], to: string): Promise<void> {
    return this.call(async () => {
      const res = await this.client.indices.updateAliases({ body: { actions: aliasActions(alias, from, to) } } as never);
      if ((res.body as { errors?: boolean }).errors) throw aliasMoved(alias, from, this.where);
    });
  }

  mapping(index: string): Promise<Record<string, unknown>> {
    return this.call(async () => {
      const res = (await this.client.indices.getMapping({ index })).body as Record<string, { mappings?: Record<string, unknown> }>;
      return res[index]?.mappings ?? Object.values(res)[0]?.mappings ?? {};
    });
  }

  health(timeoutMs: number): Promise<void> {
    return this.call(async () => {
      await this.client.cluster.health({}, { requestTimeout: timeoutMs, maxRetries: 0 });
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function parseOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
