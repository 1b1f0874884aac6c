// Verify and repair against the real servers: each kind of drift introduced directly in the
// stores is named by id, repair fixes exactly those, and concurrent writes survive a repair.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, writeConfig } from './harness.js';

const KS = 'cesync_verify';
const ROWS = 3000;
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;

type Report = { inSync: boolean; counts: Record<string, number>; ids: Record<string, string[]>; bytesReadFromIndex: number; spansDiffering: number; spans: number };

async function verifyJson(...args: string[]): Promise<{ code: number | null; report: Report }> {
  const res = await runCli(['verify', '--config', configFile, '--json', ...args]);
  expect(res.stderr).not.toMatch(/cesync: /);
  return { code: res.code, report: JSON.parse(res.stdout).reports[0] as Report };
}

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.things (id int PRIMARY KEY, name text, tags set<text>)`);
  const insert = `INSERT INTO ${KS}.things (id, name, tags) VALUES (?, ?, ?)`;
  for (let i = 0; i < ROWS; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => cql.execute(insert, [i + j, `thing ${i + j}`, new Set(['a', 'b'])], { prepare: true })));
  }
  await deleteIndex(es, 'verify_things');
  configFile = writeConfig(dir, rawConfig([{ name: 'things', keyspace: KS, table: 'things', index: 'verify_things' }], { failureLedger: join(dir, 'f.ndjson') }));
  const sync = await runCli(['sync', '--config', configFile]);
  expect(sync.code, sync.stderr).toBe(0);
}, 300_000);

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

describe('verify', () => {
  it('finds an in-sync table in sync, reading far fewer bytes than the documents', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const { code, report } = await verifyJson();
    expect(report.inSync).toBe(true);
    expect(code).toBe(0);
    expect(report.spansDiffering).toBe(0);
    // What fetching every document would read: the whole index, page by page.
    let all = 0;
    for (let from = 0; from < ROWS + 10; from += 1000) {
      const res = await es.search({ index: 'verify_things', from, size: 1000, query: { match_all: {} } });
      all += Buffer.byteLength(JSON.stringify(res));
    }
    console.log(JSON.stringify({ verifyBytesFromIndex: report.bytesReadFromIndex, fetchEveryDocumentBytes: all }));
    expect(report.bytesReadFromIndex * 20).toBeLessThan(all);
  });

  it('names exactly the drifted ids, by class; repair fixes them; a second verify finds none', async () => {
    // A row with a TTL, synced while alive, then expired: its document is an orphan. (Observed,
    // not timed: the test goes on once the row is gone, and checks that it was synced first.)
    await cql.execute(`INSERT INTO ${KS}.things (id, name) VALUES (5000, 'short-lived') USING TTL 8`);
    const synced = await runCli(['sync', '--config', configFile, '--ids', '5000']);
    expect(synced.code, synced.stderr).toBe(0);
    expect((await es.exists({ index: 'verify_things', id: '5000' })), 'the row with a TTL was synced before it expired').toBe(true);
    for (let i = 0; i < 200 && (await cql.execute(`SELECT id FROM ${KS}.things WHERE id = 5000`)).rowLength > 0; i++) await new Promise((r) => setTimeout(r, 100));
    await es.delete({ index: 'verify_things', id: '1' }); // missing
    await es.delete({ index: 'verify_things', id: '2' }); // missing
    await es.index({ index: 'verify_things', id: '999999', document: { id: 999999, name: 'stray' } }); // orphan, no metadata
    await es.index({ index: 'verify_things', id: 'not-a-key', document: { name: 'stray' } }); // orphan, not even a key
    await es.update({ index: 'verify_things', id: '3', doc: { name: 'edited in elasticsearch' } }); // different (content)
    await cql.execute(`UPDATE ${KS}.things SET name = 'renamed' WHERE id = 4`); // stale
    await cql.execute(`DELETE FROM ${KS}.things WHERE id = 5`); // orphan
    const t = (await cql.execute(`SELECT writetime(name) AS w FROM ${KS}.things WHERE id = 7`)).first()!['w'];
    await cql.execute(`UPDATE ${KS}.things USING TIMESTAMP ${t} SET name = null WHERE id = 7`); // different: version did not move (tags keep it)
    await es.indices.refresh({ index: 'verify_things' });

    const { code, report } = await verifyJson();
    expect(code).toBe(1);
    expect(report.ids).toEqual({ missing: ['1', '2'], orphan: ['5', '5000', '999999', 'not-a-key'].sort(), stale: ['4'], different: [] });

    const content = await verifyJson('--content');
    expect(content.report.ids).toEqual({ missing: ['1', '2'], orphan: ['5', '5000', '999999', 'not-a-key'].sort(), stale: ['4'], different: ['3', '7'] });
    // Kept as the pipeline's last verify: counts and the token ranges that differ, no ids.
    const status = await runCli(['status', '--config', configFile, '--json']);
    const last = (JSON.parse(status.stdout) as { pipelines: { lastVerify: { inSync: boolean; content: boolean; counts: Record<string, number>; spans: number; driftSpans: { start: string; end: string | null; differences: number }[] } }[] }).pipelines[0]!.lastVerify;
    expect(last).toMatchObject({ inSync: false, content: true, counts: { missing: 2, orphan: 4, stale: 1, different: 2 } });
    // Documents without cesync's token (999999, not-a-key) belong to no token range: the other 7 do.
    expect(last.driftSpans.reduce((n, d) => n + d.differences, 0)).toBe(7);
    expect(last.driftSpans.length).toBeGreaterThan(0);
    expect(last.driftSpans.length).toBeLessThanOrEqual(last.spans);
    expect(JSON.stringify(last)).not.toContain('999999');
    expect((await runCli(['status', '--config', configFile])).stdout).toMatch(/last verify \(content\) at .*: missing 2, orphan 4, stale 1, different 2; \d+ of \d+ ranges differ/);

    const guarded = await runCli(['repair', '--config', configFile, '--content', '--max-changes', '3']);
    expect(guarded.code).toBe(5);
    expect((await verifyJson('--content')).report.counts).toEqual(content.report.counts);

    const repaired = await runCli(['repair', '--config', configFile, '--content', '--json']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(JSON.parse(repaired.stdout).reports[0]).toMatchObject({ mode: 'repair', indexed: 5, deleted: 4, failed: 0 });
    expect((await es.get({ index: 'verify_things', id: '3' }))._source).toMatchObject({ name: 'thing 3' });
    const after = await verifyJson('--content');
    expect(after.report.inSync).toBe(true);
    expect(after.code).toBe(0);
  });

  it('limits the check to rows written since a time', async () => {
    await cql.execute(`DELETE FROM ${KS}.things WHERE id = 10`); // an old row's document: an orphan at any age
    await new Promise((r) => setTimeout(r, 20));
    const since = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 20));
    await cql.execute(`UPDATE ${KS}.things SET name = 'recent' WHERE id = 11`);
    const { report } = await verifyJson('--since', since);
    // The deleted row has no version left to be recent by: its orphan is found whatever the window,
    // so `repair --since` beside watch removes it too.
    expect(report.ids).toEqual({ missing: [], stale: ['11'], orphan: ['10'], different: [] });
    const repaired = await runCli(['repair', '--config', configFile, '--since', since, '--json']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(JSON.parse(repaired.stdout).reports[0]).toMatchObject({ indexed: 1, deleted: 1 });
    expect((await verifyJson()).report.inSync).toBe(true);
  });
});

describe('repair with a saved plan', () => {
  it('never overwrites a newer row or deletes a document whose row was written between plan and apply', async () => {
    await cql.execute(`UPDATE ${KS}.things SET name = 'old change' WHERE id = 20`); // stale
    await cql.execute(`DELETE FROM ${KS}.things WHERE id = 21`); // orphan
    const plan = join(dir, 'plan.json');
    const dry = await runCli(['repair', '--config', configFile, '--dry-run', '--plan', plan]);
    expect(dry.code, dry.stderr).toBe(0);
    const saved = JSON.parse(readFileSync(plan, 'utf8')) as { ids: Record<string, string[]> };
    expect(saved.ids).toMatchObject({ stale: ['20'], orphan: ['21'] });
    expect((await es.get({ index: 'verify_things', id: '21' })).found).toBe(true); // dry run changed nothing

    // Meanwhile: row 20 changes again, row 21 is written again.
    await cql.execute(`UPDATE ${KS}.things SET name = 'newest' WHERE id = 20`);
    await cql.execute(`INSERT INTO ${KS}.things (id, name) VALUES (21, 'back again')`);
    const applied = await runCli(['repair', '--config', configFile, '--plan', plan, '--json']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(JSON.parse(applied.stdout).reports[0]).toMatchObject({ deleted: 0, indexed: 2 });
    expect((await es.get({ index: 'verify_things', id: '20' }))._source).toMatchObject({ name: 'newest' });
    expect((await es.get({ index: 'verify_things', id: '21' }))._source).toMatchObject({ name: 'back again' });
    expect((await verifyJson('--content')).report.inSync).toBe(true);
  });
});
