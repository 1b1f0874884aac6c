// Generations of an index behind an alias and the record a rebuild keeps in its mapping (pure
// logic; the rebuild itself is tried against the real servers in test/integration/reindex.test.ts).
import { describe, expect, it } from 'vitest';
import { aliasActions, indexInfo } from '../../src/search-index/alias-requests.js';
import { generationName, generationOf, mappingDifference, nextGeneration, recordOf, shapeDigest, withRecord, type ReindexRecord } from '../../src/search-index/index-generations.js';

describe('generation names', () => {
  it('numbers indices <alias>-NNNNNN and ignores other names', () => {
    expect(generationName('users', 1)).toBe('users-000001');
    expect(generationOf('users', 'users-000042')).toBe(42);
    expect(generationOf('users', 'users-1')).toBeUndefined();
    expect(generationOf('users', 'users_v2-000001')).toBeUndefined();
    expect(generationOf('users', 'userv3')).toBeUndefined();
    expect(generationOf('users', 'users-0000001234')).toBe(1234);
  });

  it('takes the next number past the highest, whatever else is there', () => {
    expect(nextGeneration('users', [])).toBe('users-000001');
    expect(nextGeneration('users', ['userv3'])).toBe('users-000001');
    expect(nextGeneration('users', ['users-000001', 'users-000007', 'users-000003', 'users-old'])).toBe('users-000008');
  });
});

describe('the rebuild record', () => {
  const record: ReindexRecord = { alias: 'users', previous: 'users-000001', state: 'building', startedAt: '2026-12-02T08:00:00.000Z', shape: 'abc' };

  it('is kept under cesync.reindex beside what else the _meta holds', () => {
    const meta = withRecord({ cesync: { pipeline: 'p', pendingSettings: { refresh_interval: null } }, team: 'search' }, record);
    expect(meta).toEqual({ cesync: { pipeline: 'p', pendingSettings: { refresh_interval: null }, reindex: record }, team: 'search' });
    expect(recordOf(meta)).toEqual(record);
  });

  it('is absent from an index no rebuild made, and a damaged one is not taken for one', () => {
    expect(recordOf(undefined)).toBeUndefined();
    expect(recordOf({ cesync: {} })).toBeUndefined();
    expect(recordOf({ cesync: { reindex: { alias: 'users', state: 'building' } } })).toBeUndefined();
  });
});

describe('shapeDigest', () => {
  const mapping = { dynamic: 'false', properties: { name: { type: 'keyword' }, age: { type: 'integer' } }, _meta: { cesync: { fields: 2 } } };

  it('does not depend on key order or on the records cesync keeps', () => {
    const reordered = { _meta: { cesync: { fields: 2, reindex: { any: 1 }, pendingSettings: { x: 1 } } }, properties: { age: { type: 'integer' }, name: { type: 'keyword' } }, dynamic: 'false' };
    expect(shapeDigest(reordered, { number_of_shards: 1 })).toBe(shapeDigest(mapping, { number_of_shards: 1 }));
  });

  it('changes with a field type or a setting', () => {
    const changed = { ...mapping, properties: { ...mapping.properties, age: { type: 'long' } } };
    expect(shapeDigest(changed, {})).not.toBe(shapeDigest(mapping, {}));
    expect(shapeDigest(mapping, { number_of_shards: 2 })).not.toBe(shapeDigest(mapping, {}));
  });
});

describe('mappingDifference', () => {
  it('lists fields added, removed and changed, nested ones by path', () => {
    const current = { properties: { name: { type: 'keyword' }, born: { type: 'keyword' }, address: { properties: { city: { type: 'text' }, zip: { type: 'keyword' } } } } };
    const next = { properties: { name: { type: 'keyword' }, born: { type: 'date' }, address: { type: 'object', properties: { city: { type: 'text' } } }, email: { type: 'keyword' } } };
    expect(mappingDifference(current, next)).toEqual({
      added: ['email'],
      removed: ['address.zip'],
      changed: [{ field: 'born', from: 'keyword', to: 'date' }],
    });
  });

  it('takes parameters the server gives back as text for the same', () => {
    expect(mappingDifference({ properties: { m: { type: 'object', dynamic: 'false' } } }, { properties: { m: { type: 'object', dynamic: false } } })).toEqual({ added: [], removed: [], changed: [] });
  });
});

describe('alias requests', () => {
  it('moves an alias by removing it where it was and adding it as the write index, in one request', () => {
    expect(aliasActions('users', ['users-000001'], 'users-000002')).toEqual([
      { remove: { index: 'users-000001', alias: 'users' } },
      { add: { index: 'users-000002', alias: 'users', is_write_index: true } },
    ]);
    expect(aliasActions('users', [], 'users-000001')).toEqual([{ add: { index: 'users-000001', alias: 'users', is_write_index: true } }]);
  });

  it('reads a row of _cat/indices', () => {
    expect(indexInfo({ index: 'users-000001', status: 'open', 'creation.date': '1764662400000', 'pri.store.size': '2048' })).toEqual({ index: 'users-000001', createdMs: 1764662400000, bytes: 2048, closed: false });
    expect(indexInfo({ index: 'users-000001', status: 'close' })).toEqual({ index: 'users-000001', createdMs: 0, bytes: 0, closed: true });
  });
});
