// Pure logic of event consumption: paths into events, the value replacement in scalars, lists and
// sets, the `when` filter, and the consume loop's order of effects (handle, dead-letter, commit)
// with a fake log.
import { describe, expect, it } from 'vitest';
import { parseEventPath, scalarAt, valuesAt } from '../../src/events/event-path.js';
import { replaced } from '../../src/events/replace-value.js';
import { compileWhen } from '../../src/events/when.js';
import { consume } from '../../src/events/consume.js';
import type { EventHandler } from '../../src/events/handler.js';
import type { ConsumedEvent, DeadLetters, EventLog } from '../../src/events/ports.js';
import { CesyncError } from '../../src/errors.js';

describe('event paths', () => {
  const event = { object: { id: 'u1' }, objectIds: ['a', 'b'], items: [{ id: 1 }, { id: 2 }], edata: { n: null } };
  it('reads fields, every element, one element', () => {
    expect(valuesAt(event, parseEventPath('object.id'))).toEqual(['u1']);
    expect(valuesAt(event, parseEventPath('objectIds[*]'))).toEqual(['a', 'b']);
    expect(valuesAt(event, parseEventPath('items[*].id'))).toEqual([1, 2]);
    expect(valuesAt(event, parseEventPath('items[1].id'))).toEqual([2]);
    expect(valuesAt(event, parseEventPath('items[5].id'))).toEqual([]);
    expect(valuesAt(event, parseEventPath('nothing.here'))).toEqual([]);
    expect(valuesAt('not an object', parseEventPath('a'))).toEqual([]);
  });
  it('never reads inherited properties', () => {
    expect(valuesAt({}, parseEventPath('constructor'))).toEqual([]);
    expect(valuesAt({}, parseEventPath('__proto__'))).toEqual([]);
  });
  it('says why there is no single scalar', () => {
    expect(scalarAt(event, parseEventPath('object.id'), 'object.id')).toEqual({ value: 'u1' });
    expect(scalarAt(event, parseEventPath('objectIds[*]'), 'x')).toEqual({ error: 'the event has 2 values at x, expected one' });
    expect(scalarAt(event, parseEventPath('edata.n'), 'edata.n')).toEqual({ error: 'edata.n is null, expected a string, number or boolean' });
    expect(scalarAt(event, parseEventPath('edata.m'), 'edata.m')).toEqual({ error: 'the event has no edata.m' });
  });
  it('refuses what is not a path', () => {
    expect(() => parseEventPath('a..b')).toThrow(/not an event path/);
    expect(() => parseEventPath('a[x]')).toThrow(/not an event path/);
  });
});

describe('replacing a value', () => {
  // As the table compares: here, texts compared case-insensitively (as a uuid column would).
  const same = (a: unknown, b: unknown) => a !== null && a !== undefined && String(a).toLowerCase() === String(b).toLowerCase();
  it('in a scalar column, only when it holds the value', () => {
    expect(replaced('scalar', 'u1', 'u1', 'u2', same)).toBe('u2');
    expect(replaced('scalar', 'U1', 'u1', 'u2', same)).toBe('u2');
    expect(replaced('scalar', 'u3', 'u1', 'u2', same)).toBeUndefined();
    expect(replaced('scalar', null, 'u1', 'u2', same)).toBeUndefined();
  });
  it('in a list: the element replaced in place, no duplicates of the new value', () => {
    expect(replaced('list', ['a', 'u1', 'b'], 'u1', 'u2', same)).toEqual(['a', 'u2', 'b']);
    expect(replaced('list', ['u2', 'u1'], 'u1', 'u2', same)).toEqual(['u2']);
    expect(replaced('list', ['U2', 'x', 'u1'], 'u1', 'u2', same)).toEqual(['u2', 'x']);
    expect(replaced('list', ['u1', 'x', 'u1'], 'u1', 'u2', same)).toEqual(['u2', 'x']);
    expect(replaced('list', ['a'], 'u1', 'u2', same)).toBeUndefined();
    expect(replaced('set', null, 'u1', 'u2', same)).toBeUndefined();
    expect(replaced('set', ['a', 'u1'], 'u1', 'u2', same)).toEqual(['a', 'u2']);
  });
}); 

describe('when', () => {
  it('matches one value or any of several, and says why not', () => {
    const when = compileWhen({ objectType: 'user', 'edata.action': ['a', 'b'] });
    expect(when({ objectType: 'user', edata: { action: 'b' } })).toBeUndefined();
    expect(when({ objectType: 'org', edata: { action: 'b' } })).toBe('objectType is "org", not "user"');
    expect(when({ objectType: 'user' })).toBe('edata.action is missing, not "a" or "b"');
  });
});

function fakeLog(batches: ConsumedEvent[][], journal: string[]): EventLog {
  return {
    async *batches(signal) {
      for (const b of batches) {
        if (signal.aborted) return;
        yield b;
      }
    },
    async commit(batch) {
      journal.push(`commit ${batch.map((e) => e.offset).join(',')}`);
    },
    async lag() {
      return new Map();
    },
    async close() {},
  };
}

const ev = (offset: number, value: string | undefined): ConsumedEvent => ({ topic: 't', partition: 0, offset: BigInt(offset), value: value === undefined ? undefined : Buffer.from(value), timestamp: 0 });

describe('the consume loop', () => {
  it('handles, dead-letters the failed events, then commits; a dry run commits nothing', async () => {
    const journal: string[] = [];
    const handler: EventHandler = {
      kind: 'test',
      async handle(events) {
        journal.push(`handle ${events.map((e) => e.event.offset).join(',')}`);
        return { outcomes: events.map((e) => ((e.body as { bad?: boolean }).bad ? { kind: 'failed', reason: 'bad' } : { kind: 'applied', rowsChanged: 1, rowsRead: 1 })), documents: { indexed: 0, unchanged: 0, deleted: 0, missing: 0, failed: 0 }, lookups: { found: 0, missing: 0 } };
      },
    };
    const dead: DeadLetters = {
      async send(e, r) {
        journal.push(`dead ${e.offset} ${r.error}`);
      },
      async close() {},
    };
    const batches = [[ev(0, '{}'), ev(1, '{x'), ev(2, '{"bad":true}')], [ev(3, undefined)]];
    const totals = await consume(fakeLog(batches, journal), handler, dead, { signal: new AbortController().signal });
    expect(journal).toEqual(['handle 0,2', 'dead 1 the value is not JSON: ' + journal[1]!.split('not JSON: ')[1], 'dead 2 bad', 'commit 0,1,2', 'dead 3 the event has no value (a tombstone)', 'commit 3']);
    expect(totals).toMatchObject({ batches: 2, events: 4, applied: 1, failed: 3, deadLettered: 3, rowsChanged: 1 });
    // A dry run: the handler sees the batches (told dryRun), nothing is dead-lettered or committed.
    journal.length = 0;
    const commits: string[] = [];
    await consume(fakeLog(batches, commits), handler, dead, { signal: new AbortController().signal, dryRun: true });
    expect(journal).toEqual(['handle 0,2']);
    expect(commits).toEqual([]);
  });

  it('handles a batch again while a store does not answer, committing nothing meanwhile; other errors end the loop uncommitted', async () => {
    const journal: string[] = [];
    let attempts = 0;
    const handler: EventHandler = {
      kind: 'test',
      async handle(events) {
        attempts++;
        journal.push(`handle ${attempts}`);
        if (attempts < 3) throw new CesyncError('STORE_UNAVAILABLE', 'down');
        return { outcomes: events.map(() => ({ kind: 'applied', rowsChanged: 0, rowsRead: 0 })), documents: { indexed: 0, unchanged: 0, deleted: 0, missing: 0, failed: 0 }, lookups: { found: 0, missing: 0 } };
      },
    };
    const retries: number[] = [];
    await consume(fakeLog([[ev(0, '{}')]], journal), handler, undefined, { signal: new AbortController().signal, backoff: { firstMs: 1, maxMs: 2 }, observer: { retry: (_e, a) => retries.push(a) } });
    expect(journal).toEqual(['handle 1', 'handle 2', 'handle 3', 'commit 0']);
    expect(retries).toEqual([1, 2]);
    const broken: EventHandler = { kind: 'test', handle: async () => Promise.reject(new CesyncError('SCHEMA_MISMATCH', 'no such column')) };
    const j2: string[] = [];
    await expect(consume(fakeLog([[ev(0, '{}')]], j2), broken, undefined, { signal: new AbortController().signal })).rejects.toThrow(/no such column/);
    expect(j2).toEqual([]);
  });

  it('without a dead-letter topic, a failed event is reported as dropped and committed', async () => {
    const journal: string[] = [];
    const handler: EventHandler = { kind: 'test', handle: async () => ({ outcomes: [], documents: { indexed: 0, unchanged: 0, deleted: 0, missing: 0, failed: 0 }, lookups: { found: 0, missing: 0 } }) };
    const dropped: string[] = [];
    await consume(fakeLog([[ev(5, 'nope')]], journal), handler, undefined, { signal: new AbortController().signal, observer: { dropped: (e, why) => dropped.push(`${e.offset} ${why}`) } });
    expect(dropped[0]).toMatch(/^5 the value is not JSON/);
    expect(journal).toEqual(['commit 5']);
  });
});
