// Shaping of documents (src/shape): each conversion, defaults, the transform module's contract,
// rejections with field and reason, the mapping of shaped fields, and the engine's handling of a
// row that cannot be shaped (ledger, nothing written, the rest goes on).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { fullSync } from '../../src/engine/full-sync.js';
import { MemoryFailureLedger } from '../../src/engine/failure-ledger.js';
import type { FieldDescription } from '../../src/engine/field-schema.js';
import type { SourceRecord } from '../../src/engine/record.js';
import { indexMapping } from '../../src/search-index/index-mapping.js';
import { compileShape, shapeFields, type ShapeSpec } from '../../src/shape/document-shape.js';
import { loadTransformModule } from '../../src/shape/load-module.js';
import { shapedSource } from '../../src/shape/shaped-source.js';
import { checkShape, columnNames } from '../../src/sync/pipeline-shape.js';
import { MemoryIndex, memorySource } from './fakes.js';

const rec = (document: Record<string, unknown>, id = 'u1'): SourceRecord => ({ id, version: 10, document });
const shape = (spec: Omit<ShapeSpec, 'pipeline'>) => compileShape({ pipeline: 'p', ...spec });

describe('parse', () => {
  it('parses JSON held in text, keeping big integers exact', async () => {
    const s = shape({ fields: [{ field: 'types', parse: 'json' }] });
    const out = await s(rec({ types: '[{"type":"teacher","subType":null}]', n: 1 }));
    expect(out.document).toEqual({ types: [{ type: 'teacher', subType: null }], n: 1 });
    const big = await s(rec({ types: '{"id": 12345678901234567890}' }));
    expect(JSON.stringify(big.document)).toBe('{"types":{"id":12345678901234567890}}');
  });

  it("parses Sunbird's dates with a format into ISO 8601 instants", async () => {
    const s = shape({ fields: [{ field: 'created', parse: { date: 'yyyy-MM-dd HH:mm:ss:SSSZZZ', zone: 'UTC' } }] });
    expect((await s(rec({ created: '2020-09-28 15:47:15:919+0530' }))).document).toEqual({ created: '2020-09-28T10:17:15.919Z' });
    const local = shape({ fields: [{ field: 'd', parse: { date: 'dd/MM/yyyy HH:mm', zone: 'Asia/Kolkata' } }] });
    expect((await local(rec({ d: '28/09/2020 15:47' }))).document).toEqual({ d: '2020-09-28T10:17:00.000Z' });
    const iso = shape({ fields: [{ field: 'd', parse: 'date' }] });
    expect((await iso(rec({ d: '2020-09-28T15:47:15+02:00' }))).document).toEqual({ d: '2020-09-28T13:47:15.000Z' });
  });

  it('parses numbers, integers, booleans and separated lists', async () => {
    const s = shape({
      fields: [
        { field: 'a', parse: 'number' },
        { field: 'b', parse: 'integer' },
        { field: 'c', parse: 'boolean' },
        { field: 'd', parse: { split: ',' } },
        { field: 'e', parse: 'integer' },
      ],
    });
    const out = await s(rec({ a: ' 1.5e3 ', b: '-42', c: 'Yes', d: 'x, y,,z ', e: '9223372036854775807' }));
    expect(out.rejected).toBeUndefined();
    expect(JSON.stringify(out.document)).toBe('{"a":1500,"b":-42,"c":true,"d":["x","y","z"],"e":9223372036854775807}');
  });

  it('converts a list element by element and a map value by value; empty text is no value', async () => {
    const s = shape({ fields: [{ field: 'tnc', parse: 'json' }, { field: 'ids', parse: 'integer' }, { field: 'when', parse: 'date' }] });
    const out = await s(rec({ tnc: { groups: '{"version":"v1"}', org: null }, ids: ['1', '', '2'], when: '  ' }));
    expect(out.document).toEqual({ tnc: { groups: { version: 'v1' }, org: null }, ids: [1, 2], when: null });
  });

  it('rejects a value that does not convert, naming the field, the value and why', async () => {
    const cases: [ShapeSpec['fields'][number], unknown, RegExp][] = [
      [{ field: 'f', parse: 'json' }, '{"a":', /field f: "\{\\"a\\":" is not JSON/],
      [{ field: 'f', parse: { date: 'yyyy-MM-dd', zone: 'UTC' } }, '2020-13-01', /field f: "2020-13-01" is not a date in the format "yyyy-MM-dd" \(.*month/],
      [{ field: 'f', parse: 'date' }, 'yesterday', /is not an ISO 8601 date/],
      [{ field: 'f', parse: 'number' }, '12abc', /is not a number/],
      [{ field: 'f', parse: 'integer' }, '1.5', /is not an integer/],
      [{ field: 'f', parse: 'integer' }, '99999999999999999999', /does not fit a 64-bit integer/],
      [{ field: 'f', parse: 'boolean' }, 'maybe', /is not a boolean/],
      [{ field: 'f', parse: 'json' }, 7, /field f: 7 is not text/],
    ];
    for (const [field, value, reason] of cases) {
      const out = await shape({ fields: [field] })(rec({ f: value }));
      expect(out.rejected?.errorType, String(value)).toBe('shape_error');
      expect(out.rejected?.reason).toMatch(reason);
      expect(out.document).toEqual({});
    }
  });

  it('refuses a date format that cannot read its own dates when compiled', () => {
    expect(() => shape({ fields: [{ field: 'f', parse: { date: 'no tokens at all', zone: 'UTC' } }] })).toThrow(/fields: f: the date format "no tokens at all" cannot read the dates it describes/);
    expect(() => shape({ fields: [{ field: 'f', parse: { date: 'yyyy-MM-dd HH:mm:ss:SSSZZZ', zone: 'UTC' } }] })).not.toThrow();
    expect(() => shape({ fields: [{ field: 'f', parse: { date: 'dd/MM/yyyy', zone: 'Asia/Kolkata' } }] })).not.toThrow();
  });

  it('refuses an unknown time zone when compiled', () => {
    expect(() => shape({ fields: [{ field: 'f', parse: { date: 'yyyy', zone: 'Mars/Olympus' } }] })).toThrow(/fields: f: unknown time zone "Mars\/Olympus"/);
  });
});

describe('defaults', () => {
  it('fills null and absent fields, after parse, with a copy of the value', async () => {
    const s = shape({ fields: [{ field: 'status', default: 1 }, { field: 'tags', default: [] }, { field: 'when', parse: 'date', default: '1970-01-01T00:00:00.000Z' }] });
    const a = await s(rec({ status: null, when: '' }));
    expect(a.document).toEqual({ status: 1, when: '1970-01-01T00:00:00.000Z', tags: [] });
    (a.document['tags'] as unknown[]).push('x');
    expect((await s(rec({ status: 0, tags: null }))).document).toEqual({ status: 0, tags: [], when: '1970-01-01T00:00:00.000Z' });
  });
});

describe('transform module', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cesync-shape-'));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('maps the shaped document to the final one, sync or async, with id and pipeline', async () => {
    const path = write('ok.mjs', 'export default async (doc, { id, pipeline }) => ({ ...doc, stateValidated: (doc.flags & 4) === 4, tag: pipeline + "/" + id });');
    const fn = await loadTransformModule(path, 'p');
    const out = await shape({ fields: [{ field: 'flags', parse: 'integer' }], module: { path, fn } })(rec({ flags: '5' }));
    expect(out.document).toEqual({ flags: 5, stateValidated: true, tag: 'p/u1' });
  });

  it('counts a throw or a non-document result as a rejection of that document', async () => {
    const path = write('bad.mjs', 'export function transform(doc) { if (doc.x === 1) throw new Error("no x"); return doc.x === 2 ? null : [doc]; }');
    const fn = await loadTransformModule(path, 'p');
    const s = shape({ fields: [], module: { path, fn } });
    expect((await s(rec({ x: 1 }))).rejected).toEqual({ errorType: 'transform_module_error', reason: `${path} threw: no x` });
    expect((await s(rec({ x: 2 }))).rejected?.reason).toBe(`${path} returned null, not a plain document object`);
    expect((await s(rec({ x: 3 }))).rejected?.reason).toBe(`${path} returned an array, not a plain document object`);
  });

  it('leaves a record an earlier step refused as it is: the function never sees it', async () => {
    let calls = 0;
    const s = shape({ fields: [{ field: 'n', parse: 'integer' }], module: { path: 'm.mjs', fn: (d) => (calls++, d) } });
    const refused = { ...rec({ n: '1' }), document: {}, rejected: { errorType: 'compose_error', reason: 'nested: bad' } };
    expect(await s(refused)).toBe(refused);
    expect(calls).toBe(0);
  });

  it('refuses what is not a plain JSON object: a Map, a Date, a BigInt inside, a cycle', async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    const outs: [unknown, RegExp][] = [
      [new Map([['a', 1]]), /returned a Map object, not a plain document object/],
      [new Date(0), /returned a Date object/],
      [{ n: 1n }, /returned a document that is not JSON: .*BigInt/],
      [cyclic, /returned a document that is not JSON: .*circular/i],
    ];
    for (const [value, reason] of outs) {
      const out = await shape({ fields: [], module: { path: 'm.mjs', fn: () => value } })(rec({ a: 1 }));
      expect(out.rejected?.errorType).toBe('transform_module_error');
      expect(out.rejected?.reason).toMatch(reason);
    }
    expect((await shape({ fields: [], module: { path: 'm.mjs', fn: () => Object.create(null) as object } })(rec({}))).rejected).toBeUndefined();
  });

  it('refuses a missing module, one that does not parse, and one without a function', async () => {
    await expect(loadTransformModule(join(dir, 'none.mjs'), 'p')).rejects.toThrow(/p: transform.module .*none.mjs cannot be loaded: no such file/);
    await expect(loadTransformModule(write('syntax.mjs', 'export default (doc => ;'), 'p')).rejects.toThrow(/syntax.mjs cannot be loaded: ./);
    await expect(loadTransformModule(write('none-fn.mjs', 'export const x = 1;'), 'p')).rejects.toThrow(/exports no function/);
  });

  it('is resolved relative to the configuration file, and loaded by config check', async () => {
    write('rel.mjs', 'export default (d) => d;');
    const raw = { pipelines: [{ name: 'p', keyspace: 'k', table: 't', index: 'i', transform: { module: './rel.mjs' } }] };
    const config = parseConfig(raw, {}, {}, 'test', dir);
    expect(config.pipelines[0]!.transform!.module).toBe(join(dir, 'rel.mjs'));
    await expect(checkShape(config.pipelines[0]!)).resolves.toBeUndefined();
    const missing = parseConfig({ pipelines: [{ ...raw.pipelines[0]!, transform: { module: './gone.mjs' } }] }, {}, {}, 'test', dir);
    await expect(checkShape(missing.pipelines[0]!)).rejects.toThrow(/gone.mjs cannot be loaded/);
  });
});

describe('configuration', () => {
  const pipeline = (extra: Record<string, unknown>) => ({ pipelines: [{ name: 'p', keyspace: 'k', table: 't', index: 'i', ...extra }] });

  it('takes a name, null or a shaping object per column; renames come out for the source', () => {
    const c = parseConfig(pipeline({ fields: { firstname: 'firstName', password: null, createddate: { name: 'createdDate', parse: { date: 'yyyy' } }, status: { default: 1 } } }), {});
    expect(columnNames(c.pipelines[0]!)).toEqual({ firstname: 'firstName', password: null, createddate: 'createdDate', status: 'status' });
    expect(c.pipelines[0]!.fields!['createddate']).toEqual({ name: 'createdDate', parse: { date: 'yyyy', zone: 'UTC' } });
  });

  it('refuses unknown conversions and empty declarations with the path', () => {
    expect(() => parseConfig(pipeline({ fields: { a: { parse: 'xml' } } }), {})).toThrow(/pipelines\.0\.fields\.a/);
    expect(() => parseConfig(pipeline({ fields: { a: {} } }), {})).toThrow(/give name, parse or default/);
    expect(() => parseConfig(pipeline({ fields: { a: { parse: 'json', typo: 1 } } }), {})).toThrow(/typo/);
  });

  it('refuses shaping the way back cannot undo, and allows renames and left-out fields both ways', () => {
    expect(() => parseConfig(pipeline({ direction: 'both', fields: { a: { parse: 'json' } } }), {})).toThrow(
      /pipelines\.0\.fields\.a\.parse: direction both writes documents back as rows, but parse of a cannot be undone/,
    );
    expect(() => parseConfig(pipeline({ direction: 'to-cassandra', fields: { a: { default: 1 } } }), {})).toThrow(/the default of a cannot be undone/);
    expect(() => parseConfig(pipeline({ direction: 'both', transform: { module: 'x.mjs' } }), {})).toThrow(/a transform module cannot be undone/);
    expect(() => parseConfig(pipeline({ direction: 'both', fields: { a: 'b', c: null, d: { name: 'e' } } }), {})).not.toThrow();
  });
});

describe('shaped fields and mapping', () => {
  const fields: FieldDescription[] = [
    { name: 'id', type: { kind: 'text' }, key: true },
    { name: 'types', type: { kind: 'text' }, key: false },
    { name: 'created', type: { kind: 'text' }, key: false },
    { name: 'tnc', type: { kind: 'map', values: { kind: 'text' } }, key: false },
    { name: 'n', type: { kind: 'integer', bits: 32 }, key: false },
  ];
  const spec = (f: ShapeSpec['fields']): ShapeSpec => ({ pipeline: 'p', fields: f });

  it('maps a parsed date as a date, parsed JSON dynamically, a map of JSON as flat dynamic objects', () => {
    const shaped = shapeFields(fields, spec([{ field: 'created', parse: 'date' }, { field: 'types', parse: 'json' }, { field: 'tnc', parse: 'json' }]), 'k.t');
    const m = indexMapping(shaped, '_cesync', 'k.t') as { properties: Record<string, unknown> };
    expect(m.properties['created']).toEqual({ type: 'date' });
    expect(m.properties).not.toHaveProperty('types');
    expect(m.properties['tnc']).toEqual({ type: 'object', dynamic: true, subobjects: false });
  });

  it('refuses unknown fields, key fields and parse of values that are not text', () => {
    expect(() => shapeFields(fields, spec([{ field: 'nope', parse: 'json' }]), 'k.t')).toThrow(/fields: nope is not a field of k.t/);
    expect(() => shapeFields(fields, spec([{ field: 'id', default: 'x' }]), 'k.t')).toThrow(/part of the primary key/);
    expect(() => shapeFields(fields, spec([{ field: 'n', parse: 'json' }]), 'k.t')).toThrow(/parse json converts text, and n of k.t holds integer values/);
  });
});

describe('a row that cannot be shaped, in a sync', () => {
  it('goes to the ledger with field and reason, is not written, and the others are', async () => {
    const rows: SourceRecord[] = [rec({ id: 'a', d: '2020-01-01' }, 'a'), rec({ id: 'b', d: 'soon' }, 'b'), rec({ id: 'c', d: null }, 'c')];
    const source = shapedSource(memorySource(rows), shape({ fields: [{ field: 'd', parse: 'date' }] }));
    const index = new MemoryIndex();
    const ledger = new MemoryFailureLedger();
    const r = await fullSync({ source, sink: index, failures: ledger }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ read: 3, indexed: 2, failed: 1 });
    expect([...index.docs.keys()].sort()).toEqual(['a', 'c']);
    expect(index.docs.get('a')!.body).toEqual({ id: 'a', d: '2020-01-01T00:00:00.000Z' });
    expect(ledger.entries).toEqual([expect.objectContaining({ id: 'b', errorClass: 'shape', errorType: 'shape_error', reason: 'field d: "soon" is not an ISO 8601 date (the input "soon" can\'t be parsed as ISO 8601)' })]);
  });

  it('leaves the document it had alone when a later version of the row cannot be shaped', async () => {
    const index = new MemoryIndex();
    const s = shape({ fields: [{ field: 'n', parse: 'integer' }] });
    await fullSync({ source: shapedSource(memorySource([rec({ n: '1' })]), s), sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    const later = { ...rec({ n: 'one' }), version: 20 };
    const r = await fullSync({ source: shapedSource(memorySource([later]), s), sink: index, failures: new MemoryFailureLedger() }, { pipeline: 'p', index: 'i' });
    expect(r).toMatchObject({ failed: 1, indexed: 0 });
    expect(index.docs.get('u1')).toMatchObject({ version: 10, body: { n: 1 } });
  });
});
