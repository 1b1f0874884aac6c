// The status page of `cesync serve` (GET /status, data from GET /api/status) in a real headless
// browser: Debian's chromium driven by playwright-core, against a real `serve` over the real
// servers (keyspace cesync_statuspage, indices statuspage_*). Chromium is installed with apt-get
// when missing (this needs root and Debian's mirrors); when it cannot be, the test fails saying so.
//
// A screenshot is kept in .services/artifacts/status-page.png (git-ignored); with
// CESYNC_UPDATE_SCREENSHOT=1 it is also copied to docs/status-page.png, the README's.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type cassandra from 'cassandra-driver';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteIndex, openTestClients, rawConfig, runCli, tempDir, testEnv, writeConfig } from './harness.js';

const KS = 'cesync_statuspage';
const KEY = 'statuspage-test-key-0123456789abcdef';
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), '.services', 'artifacts');
const HOSTILE_ID = '<img src=x onerror=alert(1)>';
const HOSTILE_NAME = 'not a number </script><script>alert(2)</script>';
const dir = tempDir();

/** Installs Debian's chromium when it is missing; throws saying what is missing when it cannot. */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const why: string[] = [];
  if (process.getuid?.() !== 0) why.push('not running as root, so apt-get cannot install it');
  else {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const started = Date.now();
    for (const args of [['install', '-y', '-q', 'chromium'], ['update', '-q'], ['install', '-y', '-q', 'chromium']]) {
      if (existsSync(CHROMIUM)) break;
      try {
        execFileSync('apt-get', args, { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: 540_000 });
      } catch (cause) {
        why.push(`apt-get ${args.join(' ')} failed: ${String((cause as { stderr?: Buffer }).stderr ?? (cause as Error).message).trim().split('\n').slice(-3).join(' ')}`);
      }
    }
    console.log(`status-page test: installing chromium took ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the status page test needs a headless browser: Debian's package "chromium" (${CHROMIUM}) is missing and could not be installed (${why.join('; ') || 'unknown reason'}). Install it with: apt-get install -y chromium`);
  }
}

function startServe(file: string): { child: ChildProcess; url: Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['bin/cesync.js', 'serve', '--config', file, '--port', '0', '--log-level', 'warn'], {
    env: { ...process.env, ...testEnv() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000);
    const check = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    void exited.then((code) => reject(new Error(`serve exited with ${code}:\n${out}`)));
  });
  return { child, url, exited };
}

interface StatusRow {
  pipeline: string;
  status: string;
  counters?: Record<string, number>;
  watermarkToElasticsearch?: { at: string; version: number };
}
async function statusJson(file: string): Promise<StatusRow[]> {
  const r = await runCli(['status', '--config', file, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { pipelines: StatusRow[] }).pipelines;
}

let cql: cassandra.Client;
let es: EsClient;
let context: BrowserContext;
let file: string;

beforeAll(async () => {
  ensureChromium();
  ({ cql, es } = await openTestClients(KS));
  await cql.execute(`CREATE TABLE ${KS}.users (id text PRIMARY KEY, name text)`);
  for (let i = 0; i < 20; i++) await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES (?, ?)`, [`u${i}`, `user ${i}`], { prepare: true });
  // The same table into an index whose mapping refuses the names (integer): real failures.
  await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES (?, ?)`, [HOSTILE_ID, HOSTILE_NAME], { prepare: true });
  for (const index of ['statuspage_user', 'statuspage_typed']) await deleteIndex(es, index);
  await es.indices.create({ index: 'statuspage_typed', mappings: { properties: { name: { type: 'integer' } } } });
  file = writeConfig(
    dir,
    rawConfig(
      [
        { name: 'user', keyspace: KS, table: 'users', index: 'statuspage_user', splits: 16 },
        { name: 'typed', keyspace: KS, table: 'users', index: 'statuspage_typed' },
      ],
      { failureLedger: join(dir, 'failures.ndjson'), api: { key: KEY }, state: { store: 'cassandra', keyspace: KS } },
    ),
  );
  const full = await runCli(['sync', '--config', file, '--pipeline', 'user', '-q']);
  expect(full.code, full.stderr).toBe(0);
  const incr = await runCli(['sync', '--config', file, '--pipeline', 'user', '--since', '2h', '-q']);
  expect(incr.code, incr.stderr).toBe(0);
  // Only the hostile row reaches the ledger as a mapping failure: the others' names ("user 1") too.
  const typed = await runCli(['sync', '--config', file, '--pipeline', 'typed', '--ids', HOSTILE_ID, '-q']);
  expect(typed.code).not.toBe(0);
  // A fresh profile each run (playwright passes it as --user-data-dir).
  context = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'cesync-chromium-')), {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1000 },
  });
}, 900_000);

afterAll(async () => {
  await context?.close();
  await cql?.shutdown();
  await es?.close();
});

/** Text of the element of a pipeline's section that carries this data attribute. */
const field = (page: Page, pipeline: string, selector: string) => page.locator(`section[data-pipeline="${pipeline}"] ${selector}`).first();

describe('cesync serve: the status page in a browser', () => {
  it('asks for the key, shows what cesync status --json shows, follows syncs, refuses without the key, escapes data', async () => {
    const serve = startServe(file);
    const dialogs: string[] = [];
    try {
      const url = await serve.url;

      // The JSON needs the key: 401 and no data.
      for (const headers of [{}, { authorization: 'Bearer not-the-key-0123456789' }] as Record<string, string>[]) {
        const res = await fetch(`${url}/api/status`, { headers });
        expect(res.status).toBe(401);
        const body = await res.text();
        expect(body).not.toContain('pipelines');
        expect(body).not.toContain('statuspage_user');
      }
      const html = await (await fetch(`${url}/status`)).text();
      expect(html).not.toContain('statuspage_user');

      const page = await context.newPage();
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${url}/status`);
      // Without a key: it asks for one, and shows no data.
      await expect.poll(() => page.locator('#message').textContent()).toContain('needs the API key');
      expect(await page.locator('input[type=password]').isVisible()).toBe(true);
      expect(await page.locator('section.pipeline').count()).toBe(0);

      // A wrong key: refused (401), and it says it needs the key.
      await page.fill('input[type=password]', 'not-the-key-0123456789');
      await page.click('button[type=submit]');
      await expect.poll(() => page.locator('#message').textContent()).toContain('HTTP 401');
      expect(await page.locator('section.pipeline').count()).toBe(0);
      expect(await page.evaluate(() => sessionStorage.length)).toBe(0);

      // The key: figures as `cesync status --json` shows them.
      await page.fill('input[type=password]', KEY);
      await page.click('button[type=submit]');
      await page.locator('section[data-pipeline="user"]').waitFor({ timeout: 15_000 });
      expect(await page.evaluate(() => Object.keys(sessionStorage).length)).toBe(1);
      const before = (await statusJson(file)).find((p) => p.pipeline === 'user')!;
      expect(before.status).toBe('finished');
      expect(await field(page, 'user', '[data-field=status]').textContent()).toBe(before.status);
      for (const [name, value] of Object.entries(before.counters!)) {
        expect(await field(page, 'user', `[data-counter="${name}"]`).textContent(), name).toBe(String(value));
      }
      expect(before.counters!.read).toBe(21);
      expect(await field(page, 'user', '[data-field=watermarkToElasticsearch]').textContent()).toBe(before.watermarkToElasticsearch!.at);
      expect(await field(page, 'user', '[data-chart=lag] circle').count()).toBeGreaterThanOrEqual(1);
      expect(await field(page, 'user', '[data-chart=ring]').count()).toBe(0); // no verify yet

      // Hostile id and error text from a real failed sync: shown as text, nothing injected.
      const typed = page.locator('section[data-pipeline="typed"]');
      expect(await typed.locator('[data-failures=mapping]').textContent()).toBe('1');
      expect(await typed.locator('[data-field=failure-id]').first().textContent()).toBe(HOSTILE_ID);
      expect(await typed.locator('[data-field=failure-id]').first().isVisible()).toBe(true);
      const reason = (await typed.locator('[data-field=failure-reason]').first().textContent()) ?? '';
      // Elasticsearch's own error text quotes the id and the value: both hostile, both shown as text.
      expect(reason).toContain(HOSTILE_ID);
      expect(reason).toContain('</script><script>alert(2)</script>');
      expect(await typed.locator('[data-field=failure-reason]').first().isVisible()).toBe(true);
      expect(await page.locator('img').count()).toBe(0);
      expect(await page.locator('script').count()).toBe(1);
      expect(await page.getByText(HOSTILE_ID, { exact: true }).isVisible()).toBe(true);

      // A verify that finds a difference, then more rows and syncs made meanwhile: the page follows.
      await es.delete({ index: 'statuspage_user', id: 'u3', refresh: true });
      const verified = await runCli(['verify', '--config', file, '--pipeline', 'user']);
      expect(verified.code, verified.stderr).toBe(1);
      for (let i = 20; i < 25; i++) await cql.execute(`INSERT INTO ${KS}.users (id, name) VALUES (?, ?)`, [`u${i}`, `user ${i}`], { prepare: true });
      const again = await runCli(['sync', '--config', file, '--pipeline', 'user', '--restart', '-q']);
      expect(again.code, again.stderr).toBe(0);
      const incr = await runCli(['sync', '--config', file, '--pipeline', 'user', '--since', 'last', '-q']);
      expect(incr.code, incr.stderr).toBe(0);
      const after = (await statusJson(file)).find((p) => p.pipeline === 'user')!;
      expect(after.counters!.read).toBe(26);
      await expect.poll(() => field(page, 'user', '[data-counter="read"]').textContent(), { timeout: 12_000, interval: 250 }).toBe('26');
      for (const [name, value] of Object.entries(after.counters!)) {
        expect(await field(page, 'user', `[data-counter="${name}"]`).textContent(), name).toBe(String(value));
      }
      await expect.poll(() => field(page, 'user', '[data-field=watermarkToElasticsearch]').textContent(), { timeout: 12_000 }).toBe(after.watermarkToElasticsearch!.at);
      expect(await field(page, 'user', '[data-field=verify]').textContent()).toMatch(/missing [1-9]/);
      expect(await field(page, 'user', '[data-chart=ring] rect[data-drift]').count()).toBeGreaterThanOrEqual(1);

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'status-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      // The README's copy is refreshed only when asked (a test run leaves tracked files alone).
      if (process.env.CESYNC_UPDATE_SCREENSHOT === '1') copyFileSync(shot, join(process.cwd(), 'docs', 'status-page.png'));

      // A new tab (its own sessionStorage) has no key: it asks again.
      const other = await context.newPage();
      await other.goto(`${url}/status`);
      await expect.poll(() => other.locator('#message').textContent()).toContain('needs the API key');
      expect(await other.locator('section.pipeline').count()).toBe(0);

      expect(dialogs).toEqual([]);
      expect(errors).toEqual([]);
      await other.close();
      await page.close();
    } finally {
      serve.child.kill('SIGTERM');
    }
    expect(await serve.exited).toBe(0);
  });
});
