// The file state store shared by several processes: every read-modify-write is atomic across
// them (one lease winner, no lost saves), stale locks are broken, a live one is waited for within
// a bound, and the file is only ever replaced whole.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/state/file-state-store.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The project's own Node (24, which runs TypeScript directly), whatever runs the tests.
const node = path.join(root, 'node_modules', '.bin', 'node');
const PROCESSES = 6;

const dirs: string[] = [];
function stateFile(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'cesync-file-state-'));
  dirs.push(dir);
  return path.join(dir, 'state.json');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the worker; resolves with its JSON line. */
function worker(args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, ['--import', './test/unit/fixtures/resolve-ts.ts', 'test/unit/fixtures/file-state-worker.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, unknown>) : reject(new Error(`worker exited ${code}: ${err}`))));
  });
}

/** A pid no process has any more: a child's, after it exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', '']);
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid!));
  });
}

const lockOf = (owner: { pid: number; at: number; host?: string }) => JSON.stringify({ host: hostname(), token: 'someone-else', ...owner });

describe('FileStateStore across processes', () => {
  it('lets exactly one of many processes starting at once win each lease', { timeout: 60_000 }, async () => {
    const file = stateFile();
    const names = 20;
    const startAt = String(Date.now() + 2500);
    const results = await Promise.all(Array.from({ length: PROCESSES }, (_, i) => worker(['lease', file, `owner-${i}`, startAt, String(names)])));
    const store = new FileStateStore(file);
    for (let n = 0; n < names; n++) {
      const winners = results.map((r, i) => (r[`lease-${n}`] === true ? `owner-${i}` : undefined)).filter(Boolean);
      expect(winners, `lease-${n}`).toHaveLength(1);
      expect(await store.leaseHolder(`lease-${n}`)).toBe(winners[0]);
    }
  });

  it('loses none of the watermarks several processes save at once, and readers only ever see whole files', { timeout: 60_000 }, async () => {
    const file = stateFile();
    const each = 25;
    const startAt = String(Date.now() + 2500);
    const reader = new FileStateStore(file);
    let reading = true;
    let reads = 0;
    const readLoop = (async () => {
      while (reading) {
        await reader.loadWatermark('owner-0-0', 'to-elasticsearch'); // throws on a torn file
        reads += 1;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    try {
      await Promise.all(Array.from({ length: PROCESSES }, (_, i) => worker(['marks', file, `owner-${i}`, startAt, String(each)])));
    } finally {
      reading = false;
    }
    await readLoop;
    expect(reads).toBeGreaterThan(0);
    for (let i = 0; i < PROCESSES; i++) {
      for (let j = 0; j < each; j++) expect(await reader.loadWatermark(`owner-${i}-${j}`, 'to-elasticsearch'), `owner-${i}-${j}`).toEqual({ version: j, id: `owner-${i}` });
    }
    expect(readdirSync(path.dirname(file))).toEqual(['state.json']); // no lock or temporary file left
  });
});

describe('FileStateStore lock', () => {
  it('serialises two stores of the same file in one process', async () => {
    const file = stateFile();
    const a = new FileStateStore(file);
    const b = new FileStateStore(file);
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).saveWatermark(`p${i}`, 'to-cassandra', { version: i, id: '' })));
    for (let i = 0; i < 20; i++) expect(await a.loadWatermark(`p${i}`, 'to-cassandra')).toEqual({ version: i, id: '' });
  });

  it('breaks a lock whose process is gone', async () => {
    const file = stateFile();
    writeFileSync(`${file}.lock`, lockOf({ pid: await deadPid(), at: Date.now() }));
    const store = new FileStateStore(file, { lock: { waitMs: 2000 } });
    expect(await store.acquireLease('watch:p', 'me', 1000)).toBe(true);
    expect(readdirSync(path.dirname(file))).toEqual(['state.json']);
  });

  it('breaks a lock older than the bound, even of a live process', async () => {
    const file = stateFile();
    writeFileSync(`${file}.lock`, lockOf({ pid: process.pid, at: Date.now() - 60_000 }));
    const store = new FileStateStore(file, { lock: { staleMs: 10_000, waitMs: 20_000 } });
    const started = Date.now();
    await store.saveWatermark('p', 'to-elasticsearch', { version: 1, id: 'a' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('breaks an empty lock (its writer died before writing it) once its file is older than the bound', async () => {
    const file = stateFile();
    writeFileSync(`${file}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${file}.lock`, old, old);
    const store = new FileStateStore(file, { lock: { staleMs: 10_000, waitMs: 2000 } });
    await store.saveWatermark('p', 'to-elasticsearch', { version: 1, id: 'a' });
    expect(await store.loadWatermark('p', 'to-elasticsearch')).toEqual({ version: 1, id: 'a' });
  });

  it('gives up on a live lock after the bound with STORE_UNAVAILABLE, and works again once it is released', async () => {
    const file = stateFile();
    writeFileSync(`${file}.lock`, lockOf({ pid: process.pid, at: Date.now() }));
    const store = new FileStateStore(file, { lock: { staleMs: 10_000, waitMs: 300 } });
    await expect(store.acquireLease('watch:p', 'me', 1000)).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringMatching(new RegExp(`stayed locked .* by pid ${process.pid}.*remove .*state\\.json\\.lock`)),
    });
    expect(readdirSync(path.dirname(file))).toEqual(['state.json.lock']); // nothing written, the live lock left alone
    rmSync(`${file}.lock`);
    expect(await store.acquireLease('watch:p', 'me', 1000)).toBe(true);
  });

  it('keeps leases exclusive between owners and frees them on release or expiry', async () => {
    const file = stateFile();
    const store = new FileStateStore(file);
    expect(await store.acquireLease('watch:p', 'a', 60_000)).toBe(true);
    expect(await store.acquireLease('watch:p', 'b', 60_000)).toBe(false);
    expect(await store.renewLease('watch:p', 'b', 60_000)).toBe(false);
    expect(await store.renewLease('watch:p', 'a', 60_000)).toBe(true);
    await store.releaseLease('watch:p', 'b'); // not b's: stays
    expect(await store.leaseHolder('watch:p')).toBe('a');
    await store.releaseLease('watch:p', 'a');
    expect(await store.acquireLease('watch:p', 'b', 1)).toBe(true);
    await new Promise((r) => setTimeout(r, 5));
    expect(await store.leaseHolder('watch:p')).toBeUndefined();
    expect(await store.acquireLease('watch:p', 'a', 60_000)).toBe(true);
  });
});

describe('FileStateStore last verify', () => {
  const summary = {
    pipeline: 'p',
    at: '2026-12-01T00:00:00.000Z',
    inSync: false,
    content: false,
    counts: { missing: 1, orphan: 0, stale: 2, different: 0 },
    spans: 8,
    driftSpans: [{ start: '-9223372036854775808', end: '0', differences: 3 }],
    durationMs: 12,
  };

  it('keeps the last one per pipeline beside the other state, and replaces it', async () => {
    const file = stateFile();
    const store = new FileStateStore(file);
    await store.saveWatermark('p', 'to-elasticsearch', { version: 5, id: 'a' });
    await store.saveVerify(summary);
    await store.saveVerify({ ...summary, pipeline: 'q', inSync: true });
    expect(await new FileStateStore(file).loadVerify('p')).toEqual(summary);
    await store.saveVerify({ ...summary, inSync: true, counts: { missing: 0, orphan: 0, stale: 0, different: 0 }, driftSpans: [] });
    expect((await store.loadVerify('p'))?.inSync).toBe(true);
    expect(await store.loadWatermark('p', 'to-elasticsearch')).toEqual({ version: 5, id: 'a' });
    expect(await store.loadVerify('none')).toBeUndefined();
  });

  it('says so when the saved verify is damaged, naming the file', async () => {
    const file = stateFile();
    writeFileSync(file, JSON.stringify({ pipelines: {}, watermarks: {}, leases: {}, verifies: { p: { ...summary, counts: 'lots' } } }));
    const store = new FileStateStore(file);
    await expect(store.loadVerify('p')).rejects.toThrow(/the saved verify in .*state\.json is damaged/);
    // The rest of the state is not held up by it.
    await store.saveWatermark('p', 'to-elasticsearch', { version: 1, id: '' });
    expect(await store.loadWatermark('p', 'to-elasticsearch')).toEqual({ version: 1, id: '' });
  });
});
