// Pure parts of the PostgreSQL adapter: positions that keep key order, and value conversions
// that keep every digit and every fraction of a second.
import { describe, expect, it } from 'vitest';
import { uuidAtPosition, uuidPosition } from '../../src/postgres/table-source.js';
import { isoTimestamp, parseExactJson, pgConverter, pgFieldType } from '../../src/postgres/value-converter.js';
import type { PgType } from '../../src/postgres/table-schema.js';

const t = (name: string, array = false): PgType => ({ name, sql: name, array, kind: 'b' });

describe('uuid positions', () => {
  const uuids = ['00000000-0000-0000-0000-000000000000', '0fffffff-ffff-ffff-ffff-ffffffffffff', '7fffffff-ffff-ffff-0000-000000000000', '80000000-0000-0000-0000-000000000001', 'ffffffff-ffff-ffff-ffff-ffffffffffff'];
  it('orders as the uuids do (byte order)', () => {
    const ps = uuids.map(uuidPosition);
    expect([...ps].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(ps);
    expect(ps[0]).toBe(-(2n ** 63n));
    expect(ps[4]).toBe(2n ** 63n - 1n);
  });
  it('bounds: the greatest uuid at a position has that position, and the next uuid the next one', () => {
    for (const u of uuids) {
      const p = uuidPosition(u);
      expect(uuidPosition(uuidAtPosition(p))).toBe(p);
      expect(uuidAtPosition(p) >= u).toBe(true);
    }
  });
});

describe('value conversion', () => {
  it('keeps every digit of int8 and numeric, and of big numbers inside jsonb', () => {
    expect(JSON.stringify(pgConverter(t('int8'))('9223372036854775807'))).toBe('9223372036854775807');
    expect(JSON.stringify(pgConverter(t('numeric'))('12345678901234567890.000000000001'))).toBe('12345678901234567890.000000000001');
    expect(pgConverter(t('numeric'))('NaN')).toBe('NaN');
    expect(JSON.stringify(parseExactJson('{"a":9007199254740993,"b":[1.5,2],"c":"x"}'))).toBe('{"a":9007199254740993,"b":[1.5,2],"c":"x"}');
  });
  it('gives timestamps in ISO 8601 UTC with every fraction digit', () => {
    expect(isoTimestamp('2026-12-02 01:24:50.891744')).toBe('2026-12-02T01:24:50.891744Z');
    expect(isoTimestamp('2026-12-02 01:24:50.891744+00')).toBe('2026-12-02T01:24:50.891744Z');
    expect(isoTimestamp('2026-12-02 01:24:50+00')).toBe('2026-12-02T01:24:50Z');
    expect(isoTimestamp('infinity')).toBe('infinity');
  });
  it('converts arrays element by element, from their literal, flattening dimensions', () => {
    expect(JSON.stringify(pgConverter(t('int8', true))('{1,NULL,9223372036854775807}'))).toBe('[1,null,9223372036854775807]');
    expect(pgConverter(t('text', true))(['a', null])).toEqual(['a', null]);
    expect(JSON.stringify(pgConverter(t('int4', true))([[1, 2], [3, 4]]))).toBe('[1,2,3,4]');
  });
  it('maps types to field types', () => {
    expect(pgFieldType(t('int8'))).toEqual({ kind: 'integer', bits: 64 });
    expect(pgFieldType(t('jsonb'))).toEqual({ kind: 'dynamic' });
    expect(pgFieldType(t('timestamptz'))).toEqual({ kind: 'timestamp' });
    expect(pgFieldType(t('inet'))).toEqual({ kind: 'keyword' });
    expect(pgFieldType(t('text', true))).toEqual({ kind: 'text' });
  });
});
