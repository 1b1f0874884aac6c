/**
 * Elasticsearch (7.14 and newer, 8, 9) as the search port, through the official client of major 8.
 * That client speaks to 7.x servers (the same REST calls cesync uses: bulk with external
 * versions, multi-get, point in time, search_after) and to 9.x servers (requests sent as plain
 * JSON, which 9.x accepts as its own); its product check refuses servers that are not
 * Elasticsearch, which `connectElasticsearch` turns into a clear error.
 */
import type { Readable } from 'node:stream';
import { errors } from '@elastic/elasticsearch';
import type { TargetConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';
import type { BulkStream, IndexInfo, ResolvedName, SearchAnswer, SearchApi, SearchDialect, SearchOptions, SearchServer, StoredDocument } from '../search-index/api.js';
import { aliasActions, aliasMoved, indexInfo } from '../search-index/alias-requests.js';
import { describeNodes } from '../search-index/describe-nodes.js';
import { readBody } from '../search-index/response-text.js';
import { runBulk, type BulkTransport } from '../search-index/bulk-driver.js';
import { elasticsearchBulk } from './bulk.js';
import { createElasticsearchClient, elasticsearchError, type ElasticsearchClient } from './client.js';

/** Oldest release cesync writes to: the client's product check needs its X-Elastic-Product header. */
const OLDEST = { major: 7, minor: 14 };

export function elasticsearchDialect(server: Pick<SearchServer, 'major' | 'minor'>): SearchDialect {
  const atLeast = (major: number, minor: number) => server.major > major || (server.major === major && server.minor >= minor);
  return {
    // `subobjects: false` exists from 8.3; before it, `flattened` (7.3+).
    dataKeyedObject: atLeast(8, 3) ? 'subobjects' : 'flattened',
    pitTiebreaker: { _shard_doc: 'asc' },
  };
}

/**
 * Opens the client, asks the node for its version, and refuses what cesync cannot write to or
 * what the configuration does not expect (`version`: the major it names).
 */
export async function connectElasticsearch(config: TargetConfig): Promise<SearchApi> {
  const where = describeNodes(config);
  const client = createElasticsearchClient(config);
  try {
    const server = await detect(client, where);
    if (server.major < OLDEST.major || (server.major === OLDEST.major && server.minor < OLDEST.minor)) {
      throw new CesyncError('CONFIG_INVALID', `Elasticsearch at ${where} runs ${server.version}; cesync needs ${OLDEST.major}.${OLDEST.minor} or newer`);
    }
    if (config.version !== undefined && config.version !== server.major) {
      throw new CesyncError('CONFIG_INVALID', `elasticsearch.version is ${config.version}, but the server at ${where} runs Elasticsearch ${server.version}`);
    }
    return new ElasticsearchApi(client, server, where);
  } catch (e) {
    await client.close().catch(() => undefined);
    throw e;
  }
}

/** The port over a client of `config`, for a server already known (no request is made). */
export function elasticsearchApi(config: TargetConfig, server: SearchServer): SearchApi {
  return new ElasticsearchApi(createElasticsearchClient(config), server, describeNodes(config));
}

async function detect(client: ElasticsearchClient, where: string): Promise<SearchServer> {
  try {
    // `GET /` is not served by every distribution (the integration-test one answers 405); a
    // node's own info is, and carries its version. Health first: it waits for a starting cluster.
    await client.cluster.health({ timeout: '10s' }, { maxRetries: 1, requestTimeout: 15_000 });
    const res = await client.nodes.info({ node_id: '_local', metric: '_none', filter_path: 'nodes.*.version' }, { maxRetries: 1, requestTimeout: 15_000 });
    const version = Object.values(res.nodes ?? {})[0]?.version ?? '0.0.0';
    const [major = 0, minor = 0] = version.split('.').map(Number);
    return { product: 'elasticsearch', version, major, minor };
  } catch (cause) {
    if (cause instanceof errors.ProductNotSupportedError) {
      throw new CesyncError(
        'CONFIG_INVALID',
        `the server at ${where} is not Elasticsearch (no X-Elastic-Product header; OpenSearch, or Elasticsearch older than 7.14?): an OpenSearch cluster is configured under opensearch:, not elasticsearch:`,
        { cause },
      );
    }
    throw elasticsearchError(cause, where);
  }
}


class ElasticsearchApi implements SearchApi {
  readonly dialect: SearchDialect;
  private readonly client: ElasticsearchClient;
  readonly server: SearchServer;
  readonly where: string;
  private readonly bulkTransport: BulkTransport;

  constructor(client: ElasticsearchClient, server: SearchServer, where: string) {
    this.client = client;
    this.bulkTransport = elasticsearchBulk(client);
    this.server = server;
    this.where = where;
    this.dialect = elasticsearchDialect(server);
  }

  error(cause: unknown): CesyncError {
    return elasticsearchError(cause, this.where);
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
    return this.call(() => this.client.indices.exists({ index }));
  }

  deleteIndex(index: string | readonly string[]): Promise<void> {
    return this.call(async () => {
      await this.client.indices.delete({ index: typeof index === 'string' ? index : [...index], ignore_unavailable: true });
    });
  }

  createIndex(index: string, body: { mappings: Record<string, unknown>; settings: Record<string, unknown>; aliases?: Record<string, unknown> }): Promise<boolean> {
    return this.call(async () => {
      try {
        await this.client.indices.create({ index, ...body } as never);
        return true;
      } catch (e) {
        if ((e as { body?: { error?: { type?: string } } }).body?.error?.type === 'resource_already_exists_exception') return false;
        throw e;
      }
    });
  }

  count(index: string): Promise<number> {
    return this.call(async () => (await this.client.count({ index })).count);
  }

  mappingMeta(index: string): Promise<Record<string, unknown> | undefined> {
    return this.call(async () => {
      const res = await this.client.indices.getMapping({ index });
      return Object.values(res)[0]?.mappings?._meta as Record<string, unknown> | undefined;
    });
  }

  putMappingMeta(index: string, meta: Record<string, unknown>): Promise<void> {
    return this.call(async () => {
      await this.client.indices.putMapping({ index, _meta: meta });
    });
  }

  putSettings(index: string, settings: Record<string, unknown>): Promise<void> {
    return this.call(async () => {
      await this.client.indices.putSettings({ index, settings });
    });
  }

  fieldTypes(index: string, field: string): Promise<string[]> {
    return this.call(async () => {
      const res = await this.client.indices.getFieldMapping({ index, fields: field });
      return Object.values(res).flatMap((i) => Object.values(i.mappings).map((m) => String((Object.values(m.mapping)[0] as { type?: string }).type)));
    });
  }

  refresh(index: string, options: SearchOptions = {}): Promise<void> {
    return this.call(async () => {
      await this.client.indices.refresh({ index }, { signal: options.signal });
    }, options.signal);
  }

  mget(index: string, ids: readonly string[], source: { includes?: string[]; excludes?: string[] }): Promise<StoredDocument[]> {
    return this.call(async () => {
      const res = await this.client.mget<Record<string, unknown>>({
        index,
        ids: [...ids],
        ...(source.includes ? { _source_includes: source.includes } : {}),
        ...(source.excludes ? { _source_excludes: source.excludes } : {}),
      });
      const found: StoredDocument[] = [];
      for (const d of res.docs) {
        if ('found' in d && d.found) found.push({ _id: d._id, _version: d._version ?? 0, _source: d._source });
      }
      return found;
    });
  }

  async bulk<T>(stream: BulkStream<T>): Promise<void> {
    await this.call(() => runBulk(this.bulkTransport, stream));
  }

  search(index: string | undefined, body: Record<string, unknown>, options: SearchOptions = {}): Promise<SearchAnswer> {
    return this.call(async () => (await this.client.search({ ...(index ? { index } : {}), ...body }, { signal: options.signal })) as unknown as SearchAnswer, options.signal);
  }

  searchParsed(index: string | undefined, body: Record<string, unknown>, reviver: (key: string, value: unknown) => unknown, options: SearchOptions = {}): Promise<SearchAnswer> {
    return this.call(async () => {
      // As the client's other calls: 4xx/5xx become ResponseErrors, connection failures are retried
      // by the transport.
      const res = await this.client.search({ ...(index ? { index } : {}), ...body }, { asStream: true, meta: true, signal: options.signal });
      const text = await readBody(res.body as unknown as Readable, String(res.headers['content-encoding'] ?? ''));
      if (res.statusCode !== null && res.statusCode >= 400) throw new errors.ResponseError({ ...res, body: parseOrText(text) } as never);
      return JSON.parse(text, reviver) as SearchAnswer;
    }, options.signal);
  }

  openPointInTime(index: string, keepAlive: string, options: SearchOptions = {}): Promise<string> {
    return this.call(async () => (await this.client.openPointInTime({ index, keep_alive: keepAlive }, { signal: options.signal })).id, options.signal);
  }

  async closePointInTime(id: string): Promise<void> {
    await this.client.closePointInTime({ id }).catch(() => undefined);
  }

  resolveName(name: string): Promise<ResolvedName> {
    return this.call(async () => {
      if (await this.client.indices.existsAlias({ name })) {
        return { kind: 'alias', indices: Object.keys(await this.client.indices.getAlias({ name })).sort() };
      }
      return (await this.client.indices.exists({ index: name })) ? { kind: 'index' } : { kind: 'missing' };
    });
  }

  listIndices(pattern: string): Promise<IndexInfo[]> {
    return this.call(async () => {
      const rows = (await this.client.cat.indices({ index: pattern, format: 'json', h: 'index,status,creation.date,pri.store.size', bytes: 'b', expand_wildcards: 'all' })) as unknown as Record<string, string | undefined>[];
      return rows.map(indexInfo);
    });
  }

  moveAlias(alias: string, from: readonly string[], to: string): Promise<void> {
    return this.call(async () => {
      // Elasticsearch 8.14+ applies the other actions when a remove finds nothing, and says so by `errors`.
      const res = (await this.client.indices.updateAliases({ actions: aliasActions(alias, from, to) as never })) as { errors?: boolean };
      if (res.errors) throw aliasMoved(alias, from, this.where);
    });
  }

  mapping(index: string): Promise<Record<string, unknown>> {
    return this.call(async () => {
      const res = await this.client.indices.getMapping({ index });
      return (res[index]?.mappings ?? Object.values(res)[0]?.mappings ?? {}) as Record<string, unknown>;
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
