import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { redact, redactText, secretValues } from '../../src/config/redact.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { tablePipeline } from '../../src/sync/expand-pipelines.js';

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

describe('tables: every table of a keyspace', () => {
  const env = { CASSANDRA_PASSWORD: 'x' };
  const group = { name: 'sb', keyspace: 'sunbird', tables: '*', index: 'sunbird_{table}' };
  const parse = (pipeline: Record<string, unknown>) => parseConfig({ ...minimal, pipelines: [pipeline] }, env);
  const refused = (pipeline: Record<string, unknown>) => {
    try {
      parse(pipeline);
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('the configuration was accepted');
  };

  it('accepts a glob or { include, exclude } instead of table, with {table} in the index', () => {
    const c = parse(group);
    expect(c.pipelines[0]).toMatchObject({ name: 'sb', tables: '*', index: 'sunbird_{table}', pageSize: 1000 });
    expect(c.pipelines[0]!.table).toBeUndefined();
    const o = parse({ ...group, tables: { exclude: ['*_tmp'] } });
    expect(o.pipelines[0]!.tables).toEqual({ include: ['*'], exclude: ['*_tmp'] });
    expect(parse({ ...group, tables: { include: ['user*', 'org'] } }).pipelines[0]!.tables).toEqual({ include: ['user*', 'org'], exclude: [] });
    expect(parse({ ...group, index: '{table}' }).pipelines[0]!.index).toBe('{table}');
  });

  it('wants exactly one of table and tables', () => {
    const { tables: _tables, ...neither } = group;
    expect(refused(neither)).toMatch(/pipelines\.0: give table \(one table\) or tables \(every table of the keyspace that matches a glob\)/);
    expect(refused({ ...group, table: 'user' })).toMatch(/pipelines\.0\.tables: give table or tables, not both/);
  });

  it('wants {table} in the index of a tables pipeline, and only there', () => {
    expect(refused({ ...group, index: 'sunbird' })).toMatch(/pipelines\.0\.index: with tables, index must hold \{table\} \(e\.g\. sunbird_\{table\}\)/);
    expect(refused({ ...minimal.pipelines[0], index: 'user_{table}' })).toMatch(/pipelines\.0\.index: \{table\} in index goes with tables/);
    expect(refused({ ...group, index: 'Sunbird_{table}' })).toMatch(/pipelines\.0\.index: a lower-case Elasticsearch index name \(with tables: one holding \{table\}/);
    expect(refused({ ...group, index: 'sunbird_{tabel}' })).toMatch(/pipelines\.0\.index: a lower-case Elasticsearch index name/);
  });

  it('names a bad glob and a mistyped key of the selection', () => {
    expect(refused({ ...group, tables: 'user-*' })).toMatch(/pipelines\.0\.tables: a table name or a glob of table names: letters, digits and "_", with \* \(any characters\) and \? \(one character\)/);
    expect(refused({ ...group, tables: { include: ['*'], exclud: ['x'] } })).toMatch(/pipelines\.0\.tables: unknown key "exclud" \(did you mean "exclude"\?\)/);
    expect(refused({ ...group, tables: { include: [] } })).toMatch(/pipelines\.0\.tables\.include: .*>=1/);
    expect(refused({ ...group, tables: 3 })).toMatch(/pipelines\.0\.tables: expected a glob of table names, or \{ include: \[GLOB\.\.\.\], exclude: \[GLOB\.\.\.\] \}/);
  });

  it('takes byTable settings, validated as the pipeline validates them, without their defaults', () => {
    const c = parse({ ...group, pageSize: 200, byTable: [{ tables: 'user', fields: { firstname: 'firstName' }, id: { separator: '|' } }, { tables: 'org*', splits: 8 }] });
    const [user, org] = c.pipelines[0]!.byTable!;
    expect(user).toEqual({ tables: 'user', fields: { firstname: 'firstName' }, id: { format: 'delimited', separator: '|' } });
    expect(org).toEqual({ tables: 'org*', splits: 8 });
    expect(refused({ ...group, byTable: [{ tables: 'user', pagesize: 10 }] })).toMatch(/pipelines\.0\.byTable\.0: unknown key "pagesize" \(did you mean "pageSize"\?\)/);
    expect(refused({ ...group, byTable: [{ tables: 'user', pageSize: 'many' }] })).toMatch(/pipelines\.0\.byTable\.0\.pageSize: .*expected number/);
    expect(refused({ ...group, byTable: [{ tables: 'user', version: 'updated' }] })).toMatch(/pipelines\.0\.byTable\.0\.version: expected writetime or \{ column: NAME \}/);
    expect(refused({ ...group, byTable: [{ tables: 'user', rangesInFlight: 4 }] })).toMatch(/pipelines\.0\.byTable\.0: unknown key "rangesInFlight"/);
    expect(refused({ ...group, byTable: [{ tables: 'user' }] })).toMatch(/pipelines\.0\.byTable\.0: give tables and at least one setting: fields, nest/);
    expect(refused({ ...group, byTable: [{ pageSize: 10 }] })).toMatch(/pipelines\.0\.byTable\.0\.tables: Invalid input: expected string/);
    const twice = [{ field: 'a', table: 't', match: { k: 'id' } }, { field: 'a', table: 'u', match: { k: 'id' } }];
    expect(refused({ ...group, byTable: [{ tables: 'user', nest: twice }] })).toMatch(/pipelines\.0\.byTable\.0\.nest\.1\.field: two nested lists cannot both be the field a/);
  });

  it('refuses byTable without tables, a version column with composed documents, and shaping the way back cannot undo', () => {
    expect(refused({ ...minimal.pipelines[0], byTable: [{ tables: 'user', pageSize: 10 }] })).toMatch(/pipelines\.0\.byTable: byTable goes with tables/);
    // A module path in byTable is resolved against the configuration file's folder, as the pipeline's own.
    expect(parseConfig({ pipelines: [{ ...group, byTable: [{ tables: 'user', transform: { module: 'shape.mjs' } }] }] }, {}, {}, 'test', '/etc/cesync').pipelines[0]!.byTable![0]!.transform).toEqual({
      module: '/etc/cesync/shape.mjs',
    });
    expect(parse({ ...group, byTable: [{ tables: 'user', transform: { module: '/opt/shape.mjs' } }] }).pipelines[0]!.byTable![0]!.transform).toEqual({ module: '/opt/shape.mjs' });
    const nest = [{ field: 'o', table: 'user_org', match: { userid: 'id' } }];
    expect(refused({ ...minimal.pipelines[0], version: { column: 'updated' }, nest })).toMatch(/pipelines\.0\.version: a composed document .* give version: writetime/);
    expect(refused({ ...group, byTable: [{ tables: 'user', version: { column: 'updated' }, nest }] })).toMatch(/pipelines\.0\.byTable\.0\.version: a composed document/);
    expect(refused({ ...group, direction: 'both', byTable: [{ tables: 'user', fields: { dob: { parse: 'date' } } }] })).toMatch(
      /pipelines\.0\.byTable\.0\.fields\.dob\.parse: direction both writes documents back as rows, but parse of dob cannot be undone/,
    );
  });

  it('describes every key of a pipeline and of a byTable entry in the JSON Schema', () => {
    type Node = { properties?: Record<string, { description?: string }>; items?: Node; anyOf?: Node[] };
    const root = configJsonSchema() as { properties: { pipelines: { items: Node } } };
    const pipeline = root.properties.pipelines.items;
    const byTable = (pipeline.properties!['byTable'] as Node).items!;
    for (const [where, node] of [['pipelines[]', pipeline], ['byTable[]', byTable]] as const) {
      for (const [key, property] of Object.entries(node.properties!)) expect(property.description, `${where}.${key}`).toEqual(expect.any(String));
    }
    expect(Object.keys(byTable.properties!).sort()).toEqual(
      ['tables', 'fields', 'nest', 'lookups', 'transform', 'version', 'changeColumn', 'id', 'indexSettings', 'pageSize', 'splits', 'throttle', 'incremental', 'bulk'].sort(),
    );
  });

  it("gives each table the pipeline's settings, then every matching byTable entry's in order", () => {
    const entry = parse({
      ...group,
      pageSize: 200,
      fields: { a: 'A' },
      byTable: [
        { tables: 'user*', fields: { firstname: 'firstName' }, pageSize: 50 },
        { tables: 'user_?', pageSize: 10, bulk: { concurrency: 4 } },
      ],
    }).pipelines[0]!;
    const user = tablePipeline(entry, 'user');
    expect(user).toMatchObject({ name: 'sb.user', table: 'user', index: 'sunbird_user', pageSize: 50, fields: { firstname: 'firstName' } });
    expect(user.fields).toEqual({ firstname: 'firstName' });
    expect(user).not.toHaveProperty('tables');
    expect(user).not.toHaveProperty('byTable');
    const userX = tablePipeline(entry, 'user_x');
    expect(userX).toMatchObject({ pageSize: 10, fields: { firstname: 'firstName' }, bulk: { concurrency: 4, flushBytes: 2_000_000 } });
    const other = tablePipeline(entry, 'Course');
    expect(other).toMatchObject({ name: 'sb.Course', table: '"Course"', index: 'sunbird_course', pageSize: 200, fields: { a: 'A' } });
  });
});
