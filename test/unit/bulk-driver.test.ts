// The bulk driver against a fake transport (pure logic): every operation is answered exactly
// once and to itself, batches flush by bytes and by interval, requests in flight stay bounded
// (and the source is read no faster), 429 items are sent again, whole requests retried, a
// failure ends the run with its error. The real servers are tried by the integration suite.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { BulkStream } from '../../src/search-index/api.js';
import { answerItems, runBulk, type BulkItemAnswer, type BulkTransport } from '../../src/search-index/bulk-driver.js';

interface Op {
  readonly id: string;
  readonly kind: 'index' | 'delete';
}

/** An NDJSON body's operations: [kind, id] of each action line. */
function opsOf(body: string): { kind: string; id: string }[] {
  const out: { kind: string; id: string }[] = [];
  const lines = body.split('\n').filter(Boolean);
  for (let i = 0; i < lines.length; i++) {
    const action = JSON.parse(lines[i]!) as Record<string, { _id: string }>;
    const kind = Object.keys(action)[0]!;
    out.push({ kind, id: action[kind]!._id });
    if (kind === 'index') i++;
  }
  return out;
}

async function* source(ops: readonly Op[], delayMs = 0, read?: { n: number }): AsyncGenerator<Op> {
  for (const op of ops) {
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    if (read) read.n++;
    yield op;
  }
}

function stream(ops: AsyncIterator<Op>, answers: Map<Op, string[]>, over: Partial<BulkStream<Op>> = {}): BulkStream<Op> {
  const note = (op: Op, what: string) => answers.set(op, [...(answers.get(op) ?? []), what]);
  return {
    datasource: ops,
    flushBytes: 200,
    flushIntervalMs: 50,
    concurrency: 2,
    itemWaitMs: 10,
    retry: { retries: 2, backoffMs: 5, maxBackoffMs: 10 },
    action: (op) => (op.kind === 'delete' ? { delete: { _index: 'i', _id: op.id, version: 2, version_type: 'external' } } : [{ index: { _index: 'i', _id: op.id, version: 1, version_type: 'external_gte' } }, `{"id":"${op.id}"}`]),
    applied: (op, a) => note(op, `applied:${a.result}`),
    refused: (op, a) => note(op, `refused:${a.status}`),
    ...over,
  };
}

/** A transport answering each operation with `answer(kind, id, attempt)`, recording bodies and concurrency. */
function fake(answer: (kind: string, id: string, attempt: number) => BulkItemAnswer, delayMs = 5) {
  const seen = new Map<string, number>();
  const state = { bodies: [] as string[], inFlight: 0, maxInFlight: 0 };
  const transport: BulkTransport = {
    retryable: (e) => (e as { retry?: boolean }).retry === true,
    async send(body) {
      state.bodies.push(body);
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      await new Promise((r) => setTimeout(r, delayMs));
      state.inFlight--;
      return opsOf(body).map(({ kind, id }) => {
        const n = (seen.get(`${kind}:${id}`) ?? 0) + 1;
        seen.set(`${kind}:${id}`, n);
        return answer(kind, id, n);
      });
    },
  };
  return { transport, state };
}

const ops = (n: number): Op[] => Array.from({ length: n }, (_, i) => ({ id: `d${i}`, kind: i % 5 === 4 ? 'delete' : 'index' }));

describe('the bulk driver', () => {
  it('answers every operation exactly once, to itself, with its own outcome (same id twice in flight included)', async () => {
    const all = [...ops(300), { id: 'd1', kind: 'delete' as const }, { id: 'd1', kind: 'index' as const }];
    const { transport, state } = fake((kind, id) => (id === 'd1' && kind === 'index' ? { status: 409, error: { type: 'version_conflict_engine_exception' } } : { status: 200, result: kind === 'delete' ? 'deleted' : 'created' }));
    const answers = new Map<Op, string[]>();
    await runBulk(transport, stream(source(all), answers));
    expect(answers.size).toBe(all.length);
    for (const op of all) expect(answers.get(op)).toHaveLength(1);
    expect(answers.get(all[1]!)).toEqual(['refused:409']);
    expect(answers.get(all[300]!)).toEqual(['applied:deleted']);
    expect(answers.get(all[301]!)).toEqual(['refused:409']);
    expect(state.bodies.length).toBeGreaterThan(10);
    expect(state.maxInFlight).toBeLessThanOrEqual(2);
  });

  it('holds no operation once it is answered: what it keeps does not grow with the rows read', async () => {
    // A full sync of a billion rows goes through one run: an operation (and its document) kept
    // after its answer would be kept to the end. The first 100 must be collectable once 300 more
    // were read; each is answered in its own request here.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const refs: WeakRef<Op>[] = [];
    let alive = -1;
    async function* reading(): AsyncGenerator<Op> {
      for (let i = 0; i < 400; i++) {
        if (i === 399) {
          await new Promise((r) => setImmediate(r));
          gc();
          await new Promise((r) => setImmediate(r));
          alive = refs.slice(0, 100).filter((r) => r.deref() !== undefined).length;
        }
        const op: Op = { id: `d${i}`, kind: 'index' };
        refs.push(new WeakRef(op));
        yield op;
      }
    }
    const { transport } = fake(() => ({ status: 201, result: 'created' }), 0);
    let applied = 0;
    await runBulk(transport, stream(reading(), new Map(), { flushBytes: 1, concurrency: 1, applied: () => applied++ }));
    expect(applied).toBe(400);
    expect(alive).toBe(0);
  });

  it('flushes by interval when the source is slow, and by bytes when it is fast', async () => {
    const slow = fake(() => ({ status: 201, result: 'created' }));
    const answers = new Map<Op, string[]>();
    await runBulk(slow.transport, stream(source(ops(4), 80), answers, { flushBytes: 1_000_000 }));
    expect(answers.size).toBe(4);
    expect(slow.state.bodies.length).toBeGreaterThanOrEqual(3);
    const fast = fake(() => ({ status: 201, result: 'created' }));
    await runBulk(fast.transport, stream(source(ops(100)), new Map(), { flushBytes: 1000, flushIntervalMs: 60_000 }));
    for (const body of fast.state.bodies.slice(0, -1)) expect(Buffer.byteLength(body)).toBeGreaterThanOrEqual(1000);
  });

  it('flushes a batch once its first operation waited the interval, also while operations keep coming', async () => {
    // One operation every 5 ms for 600 ms, far below flushBytes: an interval counted from the last
    // operation would hold them all to the end.
    const steady = fake(() => ({ status: 201, result: 'created' }), 1);
    const read = { n: 0 };
    /** How many operations had been read when each request went out. */
    const readAtSend: number[] = [];
    const transport: BulkTransport = { ...steady.transport, send: (body) => (readAtSend.push(read.n), steady.transport.send(body)) };
    await runBulk(transport, stream(source(ops(120).map((o) => ({ ...o, kind: 'index' as const })), 5, read), new Map(), { flushBytes: 1_000_000, flushIntervalMs: 100 }));
    expect(steady.state.bodies.length).toBeGreaterThanOrEqual(4);
    expect(readAtSend[0]).toBeLessThan(120);
  });

  it('keeps at most `concurrency` requests in flight and reads the source no faster', async () => {
    const { transport, state } = fake(() => ({ status: 201 }), 60);
    const read = { n: 0 };
    const answers = new Map<Op, string[]>();
    const run = runBulk(transport, stream(source(ops(200), 0, read), answers, { flushBytes: 100, concurrency: 2, flushIntervalMs: 20 }));
    await new Promise((r) => setTimeout(r, 100));
    // Two requests in flight, one batch waiting: a few batches' worth read, not all 200.
    expect(read.n).toBeLessThan(30);
    await run;
    expect(state.maxInFlight).toBe(2);
    expect(answers.size).toBe(200);
  });

  it('does not stop when flushes by interval and by bytes meet while every request is busy', async () => {
    const { transport } = fake(() => ({ status: 201 }), 120);
    const answers = new Map<Op, string[]>();
    await runBulk(transport, stream(source(ops(60), 7), answers, { flushBytes: 300, flushIntervalMs: 5, concurrency: 1 }));
    expect(answers.size).toBe(60);
  });

  it('sends 429 items again, then refuses them with 429 when their retries run out', async () => {
    const { transport } = fake((kind, id, attempt) => (id === 'd2' ? { status: 429 } : id === 'd3' && attempt < 3 ? { status: 429 } : { status: 201, result: 'created' }));
    const answers = new Map<Op, string[]>();
    const all = ops(10);
    await runBulk(transport, stream(source(all), answers, { itemRetries: 3 }));
    expect(answers.get(all[2]!)).toEqual(['refused:429']);
    expect(answers.get(all[3]!)).toEqual(['applied:created']);
    expect([...answers.values()].every((a) => a.length === 1)).toBe(true);
  });

  it('retries a whole request refused as a whole, then fails the run with its error once the budget is spent', async () => {
    let calls = 0;
    const flaky: BulkTransport = {
      retryable: () => true,
      async send(body) {
        calls++;
        if (calls % 2 === 1) throw Object.assign(new Error('503'), { retry: true });
        return opsOf(body).map(() => ({ status: 201 }));
      },
    };
    const answers = new Map<Op, string[]>();
    await runBulk(flaky, stream(source(ops(40)), answers));
    expect(answers.size).toBe(40);
    const down: BulkTransport = { retryable: () => true, send: () => Promise.reject(new Error('down for good')) };
    const none = new Map<Op, string[]>();
    await expect(runBulk(down, stream(source(ops(40)), none))).rejects.toThrow('down for good');
    expect(none.size).toBe(0);
  });

  it('fails the run, without hanging, when an answer does not match its request or a callback throws', async () => {
    const short: BulkTransport = { retryable: () => false, send: async () => [{ status: 201 }] };
    await expect(runBulk(short, stream(source(ops(10)), new Map()))).rejects.toThrow(/items for/);
    expect(() => answerItems([{ index: { status: 201 } }, {}])).toThrow(/no status/);
    expect(answerItems([{ index: { status: 201, result: 'created' } }, { delete: { status: 404 } }])).toEqual([{ status: 201, result: 'created' }, { status: 404 }]);
    const { transport } = fake(() => ({ status: 201 }));
    const throwing = stream(source(ops(50)), new Map(), {
      applied: () => {
        throw new Error('observer broke');
      },
    });
    await expect(runBulk(transport, throwing)).rejects.toThrow('observer broke');
  });

  it('fails at once when a request fails while the source is slow, and sends nothing more', async () => {
    let sends = 0;
    const down: BulkTransport = {
      retryable: () => false,
      send: async () => {
        sends++;
        throw new Error('refused for good');
      },
    };
    const t0 = Date.now();
    await expect(runBulk(down, stream(source(ops(5), 2000), new Map(), { flushIntervalMs: 10 }))).rejects.toThrow('refused for good');
    expect(Date.now() - t0).toBeLessThan(3500);
    expect(sends).toBe(1);
  });

  it('stops waiting for 429 retries when the run is stopping: the items are refused at once, not sent again', async () => {
    let stop = false;
    const { transport, state } = fake(() => ({ status: 429 }));
    const answers = new Map<Op, string[]>();
    const t0 = Date.now();
    const run = runBulk(transport, stream(source(ops(5)), answers, { itemWaitMs: 10_000, itemRetries: 5, retry: { retries: 0, stopping: () => stop } }));
    setTimeout(() => (stop = true), 100);
    await run;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(state.bodies.flatMap(opsOf)).toHaveLength(5);
    expect([...answers.values()].flat()).toEqual(Array(5).fill('refused:429'));
  });
});
