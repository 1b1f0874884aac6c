// Composed and shaped documents against the real servers: a user row with its memberships (each
// enriched with its organisation's name) and its roles nested, fields renamed and parsed, and a
// transform module; then every command on them: full, targeted, incremental (a nested row added,
// changed, soft-deleted, a looked-up row changed), verify and repair (a nested row deleted
// outright), a row that cannot be shaped, and a full sync killed mid-way then resumed.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_composed';
const INDEX = 'composed_user';
let cql: cassandra.Client;
let es: EsClient;
const dir = tempDir();
let configFile: string;
const LAG = 300;

const settle = () => new Promise((r) => setTimeout(r, LAG + 200));
const get = async (id: string) => {
  await es.indices.refresh({ index: INDEX });
  const { _cesync, ...doc } = (await es.get<Record<string, unknown>>({ index: INDEX, id }))._source!;
  void _cesync;
  return doc;
};
async function cli(...args: string[]) {
  const res = await runCli([...args, '--config', configFile, '--json']);
  return { ...res, json: res.stdout ? (JSON.parse(res.stdout) as Record<string, unknown>) : undefined };
}
async function sync(...args: string[]) {
  const res = await cli('sync', ...args);
  expect(res.code, res.stderr).toBe(0);
  return (res.json!.reports as Record<string, unknown>[])[0]!;
}
const q = (text: string, params: unknown[] = []) => cql.execute(text, params, { prepare: true });

const USERS = 300;
const ORGS = 20;
const orgOf = (u: number, k: number) => `org-${(u * 7 + k * 3) % ORGS}`;
const membershipsOf = (u: number) => 1 + (u % 3);

beforeAll(async () => {
  ({ cql, es } = await openTestClients(KS));
  await q(`CREATE TABLE ${KS}.user (id text PRIMARY KEY, firstname text, flagsvalue int, createddate text, profileusertypes text, password text)`);
  await q(`CREATE TABLE ${KS}.user_organisation (userid text, organisationid text, isdeleted boolean, position text, PRIMARY KEY ((userid), organisationid))`);
  await q(`CREATE TABLE ${KS}.organisation (id text PRIMARY KEY, orgname text, description text)`);
  await q(`CREATE TABLE ${KS}.user_roles (userid text, role text, scope text, PRIMARY KEY ((userid), role))`);
  await deleteIndex(es, INDEX);
  for (let o = 0; o < ORGS; o++) await q(`INSERT INTO ${KS}.organisation (id, orgname, description) VALUES (?, ?, ?)`, [`org-${o}`, `Org ${o}`, `about ${o}`]);
  const writes: Promise<unknown>[] = [];
  for (let u = 0; u < USERS; u++) {
    const id = `u${String(u).padStart(4, '0')}`;
    writes.push(
      q(`INSERT INTO ${KS}.user (id, firstname, flagsvalue, createddate, profileusertypes, password) VALUES (?, ?, ?, ?, ?, ?)`, [
        id,
        `Name ${u}`,
        u % 8,
        `2020-09-28 15:47:15:${String(u % 1000).padStart(3, '0')}+0000`,
        JSON.stringify([{ type: u % 2 ? 'teacher' : 'student', subType: null }]),
        'secret',
      ]),
    );
    for (let k = 0; k < membershipsOf(u); k++) {
      writes.push(q(`INSERT INTO ${KS}.user_organisation (userid, organisationid, isdeleted, position) VALUES (?, ?, ?, ?)`, [id, orgOf(u, k), false, `pos ${k}`]));
    }
    writes.push(q(`INSERT INTO ${KS}.user_roles (userid, role, scope) VALUES (?, ?, ?)`, [id, 'PUBLIC', JSON.stringify([{ organisationId: orgOf(u, 0) }])]));
    if (writes.length > 400) await Promise.all(writes.splice(0));
  }
  await Promise.all(writes);
  writeFileSync(
    join(dir, 'shape.mjs'),
    'export default (doc, { id }) => { if (doc.firstName === "boom") throw new Error("cannot shape " + id); const { flagsValue, ...rest } = doc; return { ...rest, identifier: id, stateValidated: (flagsValue & 4) === 4 }; };\n',
  );
  configFile = writeConfig(
    dir,
    rawConfig(
      [
        {
          name: 'user',
          keyspace: KS,
          table: 'user',
          index: INDEX,
          splits: 8,
          pageSize: 50,
          incremental: { safetyLagMs: LAG, batchSize: 100 },
          fields: {
            firstname: 'firstName',
            flagsvalue: 'flagsValue',
            password: null,
            createddate: { name: 'createdDate', parse: { date: 'yyyy-MM-dd HH:mm:ss:SSSZZZ' } },
            profileusertypes: { name: 'profileUserTypes', parse: 'json' },
          },
          nest: [
            {
              field: 'organisations',
              table: 'user_organisation',
              match: { userid: 'id' },
              where: { isdeleted: false },
              fields: { userid: null, organisationid: 'organisationId', isdeleted: 'isDeleted' },
              lookups: [{ table: 'organisation', match: { id: 'organisationid' }, fields: { orgname: 'orgName' } }],
            },
            { field: 'roles', table: 'user_roles', match: { userid: 'id' }, fields: { userid: null, scope: { parse: 'json' } } },
          ],
          transform: { module: './shape.mjs' },
        },
      ],
      { state: { store: 'file', path: join(dir, 'state.json') }, maxChanges: 100_000, failureLedger: join(dir, 'failures.ndjson') },
    ),
  );
}, 120_000);

afterAll(async () => {
  await cql?.shutdown();
  await es?.close();
});

describe('a composed, shaped document', () => {
  it('is written whole by a full sync, and a second run finds nothing to do', async () => {
    expect(await sync()).toMatchObject({ mode: 'full', read: USERS, indexed: USERS, failed: 0 });
    expect(await get('u0005')).toEqual({
      id: 'u0005',
      createdDate: '2020-09-28T15:47:15.005Z',
      firstName: 'Name 5',
      profileUserTypes: [{ type: 'teacher', subType: null }],
      organisations: [
        { organisationId: orgOf(5, 0), isDeleted: false, position: 'pos 0', orgName: `Org ${orgOf(5, 0).slice(4)}` },
        { organisationId: orgOf(5, 2), isDeleted: false, position: 'pos 2', orgName: `Org ${orgOf(5, 2).slice(4)}` },
        { organisationId: orgOf(5, 1), isDeleted: false, position: 'pos 1', orgName: `Org ${orgOf(5, 1).slice(4)}` },
      ].sort((a, b) => (a.organisationId < b.organisationId ? -1 : 1)),
      roles: [{ role: 'PUBLIC', scope: [{ organisationId: orgOf(5, 0) }] }],
      identifier: 'u0005',
      stateValidated: true,
    });
    expect(await sync()).toMatchObject({ read: USERS, indexed: 0, unchanged: USERS });
    const mapping = (await es.indices.getMapping({ index: INDEX }))[INDEX]!.mappings.properties!;
    expect(mapping['createdDate']).toEqual({ type: 'date' });
    expect(mapping).not.toHaveProperty('password');
    expect((mapping['organisations'] as { properties: Record<string, unknown> }).properties['orgName']).toMatchObject({ type: 'text' });
  });

  it('is verified in sync, by versions and by content', async () => {
    for (const extra of [[], ['--content']]) {
      const r = await cli('verify', ...extra);
      expect(r.code, r.stderr).toBe(0);
      expect((r.json!.reports as { inSync: boolean }[])[0]!.inSync).toBe(true);
    }
  });

  it('follows a nested row added, changed and soft-deleted, each re-syncing only its document (--since last)', async () => {
    await sync('--since', 'last'); // starts the watermark after the full sync
    await settle();
    await q(`INSERT INTO ${KS}.user_organisation (userid, organisationid, isdeleted, position) VALUES ('u0001', 'org-19', false, 'new')`);
    await q(`UPDATE ${KS}.user_roles SET scope = '[]' WHERE userid = 'u0002' AND role = 'PUBLIC'`);
    await q(`UPDATE ${KS}.user_organisation SET isdeleted = true WHERE userid = 'u0004' AND organisationid = ?`, [orgOf(4, 1)]);
    await settle();
    expect(await sync('--since', 'last')).toMatchObject({ mode: 'incremental', read: 3, indexed: 3 });
    expect((await get('u0001'))['organisations']).toContainEqual({ organisationId: 'org-19', isDeleted: false, position: 'new', orgName: 'Org 19' });
    expect((await get('u0002'))['roles']).toEqual([{ role: 'PUBLIC', scope: [] }]);
    expect(((await get('u0004'))['organisations'] as { organisationId: string }[]).map((o) => o.organisationId)).not.toContain(orgOf(4, 1));
  });

  it("carries one change of an organisation's name to every document of its members, and only those", async () => {
    await settle();
    await q(`UPDATE ${KS}.organisation SET orgname = 'Renamed' WHERE id = 'org-3'`);
    await q(`UPDATE ${KS}.organisation SET description = 'not copied, moves nothing' WHERE id = 'org-4'`);
    await settle();
    const members = new Set<string>();
    for (const row of (await q(`SELECT userid, organisationid, isdeleted FROM ${KS}.user_organisation`)).rows) if (row['organisationid'] === 'org-3') members.add(row['userid'] as string);
    const r = await sync('--since', 'last');
    expect(r).toMatchObject({ read: members.size, indexed: members.size });
    for (const id of [...members].slice(0, 5)) expect((await get(id))['organisations']).toContainEqual(expect.objectContaining({ organisationId: 'org-3', orgName: 'Renamed' }));
  });

  it('syncs given ids with their parts (--ids), as the Data Sync API does', async () => {
    await q(`UPDATE ${KS}.user_organisation SET position = 'by id' WHERE userid = 'u0007' AND organisationid = ?`, [orgOf(7, 0)]);
    expect(await sync('--ids', 'u0007,u0008')).toMatchObject({ read: 2, indexed: 1, unchanged: 1 });
    expect((await get('u0007'))['organisations']).toContainEqual(expect.objectContaining({ organisationId: orgOf(7, 0), position: 'by id' }));
  });

  it('follows changes of every part through watch', async () => {
    const child = spawn(process.execPath, ['bin/cesync.js', 'watch', '--config', configFile, '--interval', '200'], { env: { ...process.env, ...testEnv() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const until = async (what: string, check: () => Promise<boolean>) => {
      const end = Date.now() + 30_000;
      while (!(await check())) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}:\n${out}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    try {
      await q(`UPDATE ${KS}.organisation SET orgname = 'Watched' WHERE id = 'org-5'`);
      await q(`INSERT INTO ${KS}.user_roles (userid, role, scope) VALUES ('u0009', 'ORG_ADMIN', '[]')`);
      const rows = (await q(`SELECT userid, organisationid, isdeleted FROM ${KS}.user_organisation`)).rows;
      const member = rows.find((r) => r['organisationid'] === 'org-5' && r['isdeleted'] === false)!['userid'] as string;
      await until('the new organisation name in a member', async () =>
        ((await get(member))['organisations'] as { organisationId: string; orgName: string }[]).some((o) => o.organisationId === 'org-5' && o.orgName === 'Watched'),
      );
      await until('the new role', async () => ((await get('u0009'))['roles'] as { role: string }[]).some((r) => r.role === 'ORG_ADMIN'));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, out).toBe(0);
  });

  it('syncs ids with their parts through the Data Sync API (cesync serve)', async () => {
    const child = spawn(process.execPath, ['bin/cesync.js', 'serve', '--config', configFile, '--port', '0'], {
      env: { ...process.env, ...testEnv(), CESYNC_API_KEY: 'a-key-of-sixteen-chars' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000);
        const look = () => {
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        };
        child.stdout.on('data', look);
        child.stderr.on('data', look);
      });
      await q(`UPDATE ${KS}.user_organisation SET position = 'via api' WHERE userid = 'u0010' AND organisationid = ?`, [orgOf(10, 0)]);
      const res = await fetch(`${url}/api/data/v1/index/sync`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer a-key-of-sixteen-chars' },
        body: JSON.stringify({ request: { objectType: 'user', objectIds: ['u0010'], operationType: 'sync' } }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
      expect((await get('u0010'))['organisations']).toContainEqual(expect.objectContaining({ organisationId: orgOf(10, 0), position: 'via api' }));
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, out).toBe(0);
  });

  it('finds a nested row deleted outright by verify, and repair puts it right', async () => {
    // Deleting the oldest membership leaves the newest write time, so the version, as it was.
    const id = 'u0011';
    const orgs = ((await get(id))['organisations'] as { organisationId: string }[]).map((o) => o.organisationId);
    expect(orgs.length).toBeGreaterThan(1);
    await q(`DELETE FROM ${KS}.user_organisation WHERE userid = ? AND organisationid = ?`, [id, orgs[0]]);
    const v = await cli('verify');
    expect(v.code).toBe(1);
    expect((v.json!.reports as { ids: Record<string, string[]> }[])[0]!.ids).toMatchObject({ different: [id], missing: [], stale: [], orphan: [] });
    const r = await cli('repair', '--yes');
    expect(r.code, r.stderr).toBe(0);
    expect(((await get(id))['organisations'] as { organisationId: string }[]).map((o) => o.organisationId)).toEqual(orgs.slice(1));
    const again = await cli('verify');
    expect(again.code, again.stdout).toBe(0);
  });

  it('carries a nested row deleted outright that was the newest part: the version the index holds is kept', async () => {
    // u0001's membership of org-19 was added last (above): deleting it makes the newest write
    // time of the document's parts older than the version the index holds.
    const id = 'u0001';
    const before = (await es.get({ index: INDEX, id })) as { _version?: number };
    await q(`DELETE FROM ${KS}.user_organisation WHERE userid = ? AND organisationid = 'org-19'`, [id]);
    const v = await cli('verify');
    expect((v.json!.reports as { ids: Record<string, string[]> }[])[0]!.ids['different']).toEqual([id]);
    const r = await cli('repair', '--yes');
    expect(r.code, r.stderr).toBe(0);
    const after = (await es.get({ index: INDEX, id })) as { _version?: number };
    expect(after._version).toBe(before._version);
    expect(((await get(id))['organisations'] as { organisationId: string }[]).map((o) => o.organisationId)).not.toContain('org-19');
    expect((await cli('verify')).code).toBe(0);
  });

  it('sends a row whose text does not parse to the failure ledger, and leaves its document as it was', async () => {
    const before = await get('u0020');
    await q(`UPDATE ${KS}.user SET createddate = 'last tuesday' WHERE id = 'u0020'`);
    const res = await cli('sync', '--ids', 'u0020');
    expect(res.code).toBe(1);
    expect((res.json!.reports as Record<string, unknown>[])[0]).toMatchObject({ read: 1, failed: 1, indexed: 0 });
    expect(await get('u0020')).toEqual(before);
    const ledger = (await import('node:fs')).readFileSync(join(dir, 'failures.ndjson'), 'utf8');
    expect(ledger).toContain('"errorClass":"shape"');
    expect(ledger).toContain('field createdDate: \\"last tuesday\\" is not a date in the format');
    await q(`UPDATE ${KS}.user SET createddate = '2021-01-01 00:00:00:000+0000' WHERE id = 'u0020'`);
    expect(await sync('--ids', 'u0020')).toMatchObject({ indexed: 1, failed: 0 });
  });

  it('counts a document the transform module throws on as failed, in the ledger, and goes on', async () => {
    await q(`UPDATE ${KS}.user SET firstname = 'boom' WHERE id = 'u0021'`);
    await q(`UPDATE ${KS}.user SET firstname = 'fine' WHERE id = 'u0022'`);
    const res = await cli('sync', '--ids', 'u0021,u0022');
    expect(res.code).toBe(1);
    expect((res.json!.reports as Record<string, unknown>[])[0]).toMatchObject({ read: 2, failed: 1, indexed: 1 });
    const ledger = (await import('node:fs')).readFileSync(join(dir, 'failures.ndjson'), 'utf8');
    expect(ledger).toMatch(/"id":"u0021".*"errorType":"transform_module_error".*shape\.mjs threw: cannot shape u0021/);
    expect((await get('u0022'))['firstName']).toBe('fine');
    await q(`UPDATE ${KS}.user SET firstname = 'Name 21' WHERE id = 'u0021'`);
    expect(await sync('--ids', 'u0021')).toMatchObject({ indexed: 1, failed: 0 });
  });

  it('resumes a full sync killed mid-way, and ends in sync', async () => {
    await deleteIndex(es, INDEX);
    const child = spawn(process.execPath, ['bin/cesync.js', 'sync', '--config', configFile, '--restart'], { env: { ...process.env, ...testEnv() }, stdio: 'ignore' });
    const closed = new Promise((r) => child.on('close', r));
    const state = join(dir, 'state.json');
    const fs = await import('node:fs');
    // Killed once some spans are saved as done.
    for (let i = 0; i < 400; i++) {
      await new Promise((r) => setTimeout(r, 25));
      const text = fs.existsSync(state) ? fs.readFileSync(state, 'utf8') : '';
      if (/"done":\s*true/.test(text) || child.exitCode !== null) break;
    }
    child.kill('SIGKILL');
    await closed;
    const r = await sync();
    expect(r).toMatchObject({ failed: 0 });
    const v = await cli('verify', '--content');
    expect(v.code, v.stdout).toBe(0);
    expect((await es.count({ index: INDEX })).count).toBe(USERS);
  });
});

describe('each conversion, against the real index', () => {
  it('writes converted values, maps them by their new types, defaults nulls, and re-runs unchanged', async () => {
    await q(`CREATE TABLE ${KS}.typed (id text PRIMARY KEY, amount text, count text, flag text, tags text, seen text, local text, meta text, note text, levels list<text>)`);
    await q(`INSERT INTO ${KS}.typed (id, amount, count, flag, tags, seen, local, meta, levels) VALUES ('a', '12.5', '9007199254740993', 'Yes', 'x, y,, z', '2021-02-03T04:05:06+05:30', '03/02/2021 10:00', '{"k":[1,2]}', ['1', '2'])`);
    await q(`INSERT INTO ${KS}.typed (id, amount, count, flag, tags, seen, local, meta, note) VALUES ('b', '', null, 'no', '', null, null, null, 'kept')`);
    await deleteIndex(es, 'composed_typed');
    const file = writeConfig(
      tempDir(),
      rawConfig([
        {
          name: 'typed',
          keyspace: KS,
          table: 'typed',
          index: 'composed_typed',
          fields: {
            amount: { parse: 'number', default: 0 },
            count: { parse: 'integer' },
            flag: { name: 'enabled', parse: 'boolean' },
            tags: { parse: { split: ',' } },
            seen: { parse: 'date' },
            local: { parse: { date: 'dd/MM/yyyy HH:mm', zone: 'Asia/Kolkata' } },
            meta: { parse: 'json' },
            note: { default: 'none' },
            levels: { parse: 'integer' },
          },
        },
      ]),
    );
    const first = await runCli(['sync', '--config', file, '--json']);
    expect(first.code, first.stderr).toBe(0);
    await es.indices.refresh({ index: 'composed_typed' });
    const src = async (id: string) => {
      const { _cesync, ...doc } = (await es.get<Record<string, unknown>>({ index: 'composed_typed', id }))._source!;
      void _cesync;
      return doc;
    };
    expect(await src('a')).toEqual({
      id: 'a',
      amount: 12.5,
      count: 2 ** 53, // as a double reads it: the exact digits are checked in the raw source below
      enabled: true,
      levels: [1, 2],
      local: '2021-02-03T04:30:00.000Z',
      meta: { k: [1, 2] },
      note: 'none',
      seen: '2021-02-02T22:35:06.000Z',
      tags: ['x', 'y', 'z'],
    });
    // Exact digits of the 64-bit integer, as the index stores the source.
    const raw = await (await fetch(`${(es as unknown as { connectionPool: { connections: { url: URL }[] } }).connectionPool.connections[0]!.url.origin}/composed_typed/_doc/a`)).text();
    expect(raw).toContain('"count":9007199254740993');
    expect(await src('b')).toEqual({ id: 'b', amount: 0, count: null, enabled: false, levels: null, local: null, meta: null, note: 'kept', seen: null, tags: null });
    const props = (await es.indices.getMapping({ index: 'composed_typed' }))['composed_typed']!.mappings.properties!;
    expect(props).toMatchObject({ amount: { type: 'double' }, count: { type: 'long' }, enabled: { type: 'boolean' }, tags: { type: 'keyword' }, seen: { type: 'date' }, local: { type: 'date' }, levels: { type: 'long' } });
    const again = await runCli(['sync', '--config', file, '--json']);
    expect((JSON.parse(again.stdout) as { reports: { unchanged: number; indexed: number }[] }).reports[0]).toMatchObject({ unchanged: 2, indexed: 0 });
  });
});

describe('bad shaping declarations, found by config check', () => {
  it.each([
    [{ fields: { createddate: { parse: { date: 'yyyy', zone: 'Mars/Olympus' } } } }, /fields: createddate: unknown time zone "Mars\/Olympus"/],
    [{ fields: { createddate: { parse: 'xml' } } }, /pipelines\.0\.fields\.createddate/],
    [{ transform: { module: './missing.mjs' } }, /transform\.module .*missing\.mjs cannot be loaded: no such file/],
    [{ direction: 'both', fields: { createddate: { parse: 'date' } } }, /cannot be undone/],
    [{ nest: [{ field: 'o', table: 't', match: {} }] }, /pipelines\.0\.nest\.0\.match/],
  ])('refuses %j with exit 2 and a message naming it', async (extra, message) => {
    const file = writeConfig(tempDir(), rawConfig([{ name: 'b', keyspace: KS, table: 'user', index: 'composed_bad', ...extra }]));
    const r = await runCli(['config', 'check', '--config', file]);
    expect(r.code, r.stdout).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('refuses, when a run starts, parse of a column that holds no text (exit 2, nothing written)', async () => {
    const file = writeConfig(tempDir(), rawConfig([{ name: 'b', keyspace: KS, table: 'user', index: 'composed_bad', fields: { flagsvalue: { parse: 'json' } } }]));
    expect((await runCli(['config', 'check', '--config', file])).code).toBe(0);
    const r = await runCli(['sync', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/fields: flagsvalue: parse json converts text, and flagsvalue of cesync_composed\.user holds integer values/);
    expect(await es.indices.exists({ index: 'composed_bad' })).toBe(false);
  });
});

describe('bad composition declarations', () => {
  const bad = async (nest: Record<string, unknown>) => {
    const file = writeConfig(tempDir(), rawConfig([{ name: 'b', keyspace: KS, table: 'user', index: 'composed_bad', nest: [nest] }]));
    return runCli(['sync', '--config', file]);
  };
  it.each([
    [{ field: 'o', table: 'nope', match: { userid: 'id' } }, /nope/],
    [{ field: 'o', table: 'user_organisation', match: { organisationid: 'id' } }, /must be its partition key \(userid\)/],
    [{ field: 'o', table: 'user_organisation', match: { userid: 'firstname' } }, /firstname is not a primary key column/],
    [{ field: 'firstname', table: 'user_organisation', match: { userid: 'id' } }, /already a field/],
    [{ field: 'o', table: 'user_organisation', match: { userid: 'id' }, lookups: [{ table: 'organisation', match: { orgname: 'organisationid' }, fields: { orgname: 'n' } }] }, /whole primary key of .*organisation/],
    [{ field: 'o', table: 'user_organisation', match: { userid: 'id' }, where: { nope: 1 } }, /where: nope is not a column/],
  ])('refuses %j with a clear error (exit 2 or 3), writing nothing', async (nest, message) => {
    const r = await bad(nest);
    expect([2, 3], r.stderr).toContain(r.code);
    expect(r.stderr).toMatch(message);
    expect(await es.indices.exists({ index: 'composed_bad' })).toBe(false);
  });
});
