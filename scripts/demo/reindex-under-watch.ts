// `npm run demo -- --reindex`: the demo's user index rebuilt behind its alias while `cesync watch`
// runs and a writer keeps renaming users in Cassandra, then `cesync verify` of the pipeline.
//
//   1. starts `cesync watch` (all the example's pipelines),
//   2. starts a writer: users' first names changed in sunbird.user, one every 20 ms,
//   3. runs `cesync reindex --pipeline user` (its lines are shown as they come),
//   4. lets the writer go on for 2 s after the swap, stops it, waits for watch to carry its last
//      changes (a round that applied changes up to a watermark past the last rename), stops
//      watch with SIGTERM,
//   5. runs `cesync verify --pipeline user` and counts the first names in the index that differ
//      from the table's.
import { spawn, type ChildProcess } from 'node:child_process';
import type cassandra from 'cassandra-driver';

export interface ReindexDemo {
  readonly cliPath: string;
  readonly cwd: string;
  readonly config: string;
  readonly env: NodeJS.ProcessEnv;
  readonly client: cassandra.Client;
  readonly keyspace: string;
  /** The user pipeline's alias and the search node, to read what the alias is on afterwards. */
  readonly alias: string;
  readonly node: string;
  /** Safety lag of the user pipeline (watch carries a change once it is this old). */
  readonly safetyLagMs: number;
  readonly say: (line: string) => void;
}

export interface ReindexDemoResult {
  readonly writes: number;
  readonly reindexCode: number | null;
  readonly reindexSeconds: number;
  readonly verifyCode: number | null;
  readonly verifyLine: string;
  readonly aliasOn: readonly string[];
  /** Users whose first name in the index differs from the table's (lost or late writes). */
  readonly differing: number;
  readonly users: number;
}

export async function reindexUnderWatch(o: ReindexDemo): Promise<ReindexDemoResult> {
  const ks = o.keyspace;
  const ids = (await o.client.execute(`SELECT id FROM ${ks}.user LIMIT 5000`, [], { fetchSize: 5000 })).rows.map((r) => r.id as string);
  if (ids.length === 0) throw new Error(`${ks}.user is empty: run npm run demo first`);

  o.say('starting cesync watch');
  const watch = start(o, ['watch', '--config', o.config, '--interval', '200'], 'watch');
  await waitFor(() => /watch started/.test(watch.output()), 60_000, 'watch to start');

  o.say('starting a writer: a user renamed in Cassandra every 20 ms');
  let stop = false;
  let writes = 0;
  /** The write time of the last rename (microseconds): each is written with its own. */
  let lastWriteMicros = 0;
  const writer = (async () => {
    while (!stop) {
      const id = ids[writes % ids.length]!;
      writes += 1;
      const at = Date.now() * 1000;
      await o.client.execute(`UPDATE ${ks}.user USING TIMESTAMP ? SET firstname = ? WHERE id = ?`, [at, `renamed ${writes}`, id], { prepare: true });
      lastWriteMicros = at;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();

  o.say('running: cesync reindex --pipeline user');
  const began = Date.now();
  const reindex = start(o, ['reindex', '--config', o.config, '--pipeline', 'user'], 'reindex', true);
  const reindexCode = await reindex.exit;
  const reindexSeconds = (Date.now() - began) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  stop = true;
  await writer;
  o.say(`writer stopped after ${writes} renames; waiting for watch to carry the last ones`);
  // Carried once a round of the user pipeline applied changes up to a watermark past the last
  // rename (a round scans the whole table here, so this takes the safety lag and a round or two).
  const carried = () =>
    watch
      .output()
      .split('\n')
      .some((line) => {
        if (!line.includes('changes applied')) return false;
        try {
          const entry = JSON.parse(line) as { pipeline?: string; watermark?: { version?: number | string } };
          return entry.pipeline === 'user' && Number(entry.watermark?.version ?? 0) >= lastWriteMicros;
        } catch {
          return false;
        }
      });
  const waitStart = Date.now();
  try {
    await waitFor(carried, o.safetyLagMs + 180_000, 'watch to carry the last renames');
    o.say(`watch carried them ${((Date.now() - waitStart) / 1000).toFixed(1)} s after the writer stopped`);
  } finally {
    // Stopped also when the wait fails: the demo leaves no watch running behind it.
    watch.child.kill('SIGTERM');
    await watch.exit;
  }

  o.say('running: cesync verify --pipeline user');
  const verify = start(o, ['verify', '--config', o.config, '--pipeline', 'user'], 'verify', true);
  const verifyCode = await verify.exit;
  const verifyLine = verify.output().split('\n').find((l) => l.startsWith('user:')) ?? verify.output().trim();

  const aliasOn = Object.keys((await (await fetch(`${o.node}/_alias/${o.alias}`)).json()) as Record<string, unknown>);
  const table = new Map((await o.client.execute(`SELECT id, firstname FROM ${ks}.user`, [], { fetchSize: 10_000, autoPage: true })).rows.map((r) => [r.id as string, r.firstname as string | null]));
  const differing = await countDiffering(o.node, o.alias, table);
  return { writes, reindexCode, reindexSeconds, verifyCode, verifyLine, aliasOn, differing, users: table.size };
}

function start(o: ReindexDemo, args: string[], label: string, show = false): { child: ChildProcess; exit: Promise<number | null>; output: () => string } {
  const child = spawn(process.execPath, [o.cliPath, ...args], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const take = (d: Buffer) => {
    out += d;
    if (show) for (const line of String(d).split('\n').filter(Boolean)) o.say(`  ${label}: ${line}`);
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  return { child, exit: new Promise((r) => child.on('exit', (code) => r(code))), output: () => out };
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Documents whose firstName is not the table's firstname (or that are missing). */
async function countDiffering(node: string, alias: string, table: Map<string, string | null>): Promise<number> {
  await fetch(`${node}/${alias}/_refresh`, { method: 'POST' });
  const seen = new Map<string, unknown>();
  let body = (await post(`${node}/${alias}/_search?scroll=1m`, { size: 5000, _source: ['firstName'], query: { match_all: {} } })) as Scroll;
  while (body.hits.hits.length > 0) {
    for (const h of body.hits.hits) seen.set(h._id, h._source?.firstName ?? null);
    body = (await post(`${node}/_search/scroll`, { scroll: '1m', scroll_id: body._scroll_id })) as Scroll;
  }
  let differing = 0;
  for (const [id, name] of table) if (!seen.has(id) || seen.get(id) !== name) differing += 1;
  return differing;
}

type Scroll = { _scroll_id: string; hits: { hits: { _id: string; _source?: { firstName?: unknown } }[] } };

async function post(url: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return res.json();
}
