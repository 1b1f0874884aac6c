import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { redact, redactText, secretValues } from '../../src/config/redact.js';
import { configJsonSchema } from '../../src/config/schema.js';

const minimal = {
  cassandra: {
    contactPoints: ['127.0.0.1:9042'],
    localDataCenter: 'datacenter1',
    username: 'cassandra',
    password: '${CASSANDRA_PASSWORD}',
  },
  elasticsearch: { node: 'http://127.0.0.1:9200' },
  pipelines: [{ name: 'user', keyspace: 'sunbird', table: 'user', index: 'user' }],
};

describe('configuration', () => {
  it('accepts the documented minimal shape, substitutes ${ENV} and fills defaults', () => {
    const c = parseConfig(minimal, { CASSANDRA_PASSWORD: 's3cret' });
    expect(c.cassandra.password).toBe('s3cret');
    expect(c.pipelines[0]).toMatchObject({ name: 'user', version: 'writetime', pageSize: 1000, id: { format: 'delimited', separator: ':' } });
    expect(Object.isFrozen(c.pipelines[0])).toBe(true);
  });

  it('names an unknown key and where it is', () => {
    const bad = { ...minimal, pipelines: [{ ...minimal.pipelines[0], tabel: 'x' }] };
    expect(() => parseConfig(bad, { CASSANDRA_PASSWORD: 'x' })).toThrow(/pipelines\.0: unknown key "tabel"/);
  });

  it('names a bad value and what was expected', () => {
    const bad = { ...minimal, pipelines: [{ ...minimal.pipelines[0], pageSize: 'many' }] };
    expect(() => parseConfig(bad, { CASSANDRA_PASSWORD: 'x' })).toThrow(/pipelines\.0\.pageSize: .*number/);
  });

  it('says which environment variable is missing', () => {
    expect(() => parseConfig(minimal, {})).toThrow(/CASSANDRA_PASSWORD is not set/);
  });

  it('lets environment variables and flags override the file, flags last', () => {
    const c = parseConfig(minimal, { CASSANDRA_PASSWORD: 'x', CESYNC_ES_NODE: 'http://es:9200' }, { pipeline: { pageSize: 50 } });
    expect(c.elasticsearch.node).toBe('http://es:9200');
    expect(c.pipelines[0]!.pageSize).toBe(50);
    const f = parseConfig(minimal, { CASSANDRA_PASSWORD: 'x', CESYNC_ES_NODE: 'http://es:9200' }, { elasticsearchNode: 'http://flag:9200' });
    expect(f.elasticsearch.node).toBe('http://flag:9200');
  });

  it('redacts secrets in objects and in text', () => {
    const c = parseConfig({ ...minimal, elasticsearch: { node: 'http://x:9200', apiKey: 'abcdef' } }, { CASSANDRA_PASSWORD: 'pw-123' });
    const r = redact(c);
    expect(r.cassandra.password).toBe('***');
    expect(r.elasticsearch.apiKey).toBe('***');
    expect(redactText('login pw-123 and abcdef failed', secretValues(c))).toBe('login *** and *** failed');
  });

  it('exports a JSON Schema that lists the pipeline keys', () => {
    const schema = JSON.stringify(configJsonSchema());
    expect(schema).toContain('rangesInFlight');
    expect(schema).toContain('"additionalProperties":false');
  });
});
