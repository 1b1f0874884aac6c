// Choosing the search cluster in the configuration, and what differs between the servers
// (pure logic; the servers themselves are tried by the integration suite, once per target).
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { redact } from '../../src/config/redact.js';
import { elasticsearchDialect } from '../../src/elasticsearch/api.js';
import { openSearchDialect } from '../../src/opensearch/api.js';
import { indexMapping } from '../../src/search-index/index-mapping.js';
import type { FieldDescription } from '../../src/engine/field-schema.js';

const base = {
  cassandra: { contactPoints: ['127.0.0.1:9042'], localDataCenter: 'datacenter1' },
  pipelines: [{ name: 'user', keyspace: 'sunbird', table: 'user', index: 'user' }],
};

describe('the search cluster of a configuration', () => {
  it('is Elasticsearch by default, at the default node', () => {
    const c = parseConfig(base, {});
    expect(c.target).toMatchObject({ product: 'elasticsearch', node: 'http://127.0.0.1:9200', maxRetries: 5 });
  });

  it('is OpenSearch when the opensearch section is given, with its settings, version and TLS', () => {
    const c = parseConfig({ ...base, opensearch: { node: 'https://os:9200', username: 'admin', password: '${OS_PW}', version: 2, tls: { caFile: '/ca.pem' } } }, { OS_PW: 'pw' });
    expect(c.target).toMatchObject({ product: 'opensearch', node: 'https://os:9200', username: 'admin', password: 'pw', version: 2, tls: { caFile: '/ca.pem', rejectUnauthorized: true } });
    expect(redact(c).target.password).toBe('***');
  });

  it('takes the CESYNC_ES_* variables and --elasticsearch-node for whichever section is there', () => {
    const c = parseConfig({ ...base, opensearch: { node: 'http://os:9200' } }, { CESYNC_ES_NODE: 'http://env:9200', CESYNC_ES_USERNAME: 'u' }, { elasticsearchNode: 'http://flag:9200' });
    expect(c.target).toMatchObject({ product: 'opensearch', node: 'http://flag:9200', username: 'u' });
  });

  it('refuses both sections at once, and a version that is no major', () => {
    expect(() => parseConfig({ ...base, elasticsearch: { node: 'http://a:9200' }, opensearch: { node: 'http://b:9200' } }, {})).toThrow(/not both/);
    expect(() => parseConfig({ ...base, elasticsearch: { version: 8.1 } }, {})).toThrow(/elasticsearch\.version/);
    expect(() => parseConfig({ ...base, opensearch: { node: 'http://b:9200', bogus: 1 } }, {})).toThrow(/opensearch: unknown key "bogus"/);
  });
});

describe('dialects', () => {
  it('Elasticsearch: subobjects from 8.3, flattened before; _shard_doc always', () => {
    expect(elasticsearchDialect({ major: 8, minor: 19 })).toEqual({ dataKeyedObject: 'subobjects', pitTiebreaker: { _shard_doc: 'asc' } });
    expect(elasticsearchDialect({ major: 9, minor: 0 }).dataKeyedObject).toBe('subobjects');
    expect(elasticsearchDialect({ major: 8, minor: 2 }).dataKeyedObject).toBe('flattened');
    expect(elasticsearchDialect({ major: 7, minor: 17 }).dataKeyedObject).toBe('flattened');
  });

  it('OpenSearch: _id as the tiebreaker before 3.3 (no _shard_doc), _shard_doc from 3.3', () => {
    expect(openSearchDialect({ major: 2, minor: 19 }).pitTiebreaker).toEqual({ _id: 'asc' });
    expect(openSearchDialect({ major: 3, minor: 2 }).pitTiebreaker).toEqual({ _id: 'asc' });
    expect(openSearchDialect({ major: 3, minor: 6 }).pitTiebreaker).toEqual({ _shard_doc: 'asc' });
  });

  it('OpenSearch: flat_object from 2.7, kept in _source before', () => {
    expect(openSearchDialect({ major: 3, minor: 6 }).dataKeyedObject).toBe('flat_object');
    expect(openSearchDialect({ major: 2, minor: 7 }).dataKeyedObject).toBe('flat_object');
    expect(openSearchDialect({ major: 2, minor: 6 }).dataKeyedObject).toBe('stored');
  });

  it('maps a map column as the dialect says, and everything else the same', () => {
    const fields: FieldDescription[] = [
      { name: 'id', key: true, type: { kind: 'text' } },
      { name: 'attrs', key: false, type: { kind: 'map', values: { kind: 'integer', bits: 32 } } },
      { name: 'age', key: false, type: { kind: 'integer', bits: 32 } },
    ] as FieldDescription[];
    const of = (style: 'subobjects' | 'flattened' | 'flat_object' | 'stored') => indexMapping(fields, '_cesync', 'ks.t', { dataKeyedObject: style }) as { properties: Record<string, unknown>; dynamic_templates: unknown[] };
    expect(of('subobjects').properties.attrs).toEqual({ type: 'object', dynamic: true, subobjects: false });
    expect(of('subobjects').dynamic_templates).toHaveLength(1);
    expect(of('flattened').properties.attrs).toEqual({ type: 'flattened' });
    expect(of('flat_object').properties.attrs).toEqual({ type: 'flat_object' });
    expect(of('stored').properties.attrs).toEqual({ type: 'object', enabled: false });
    for (const style of ['flattened', 'flat_object', 'stored'] as const) {
      expect(of(style).dynamic_templates).toEqual([]);
      expect(of(style).properties.age).toEqual({ type: 'integer' });
      expect(of(style).properties.id).toEqual({ type: 'keyword' });
    }
  });
});
