// `npm run test:targets [-- NAME...]`: the integration suite once per search target
// (Elasticsearch 8, Elasticsearch 7, OpenSearch 2, OpenSearch 3 by default; names as
// CESYNC_TEST_TARGET takes them), one after another, each target's server started by the suite's
// own setup and stopped after it; then one table: test files by targets, each cell the tests
// passed of the tests run. Extra vitest arguments go after `--`: `npm run test:targets -- opensearch3 -- test/integration/verify.test.ts`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ALL = ['elasticsearch', 'elasticsearch7', 'opensearch2', 'opensearch3'];
const args = process.argv.slice(2);
const split = args.indexOf('--');
const names = (split < 0 ? args : args.slice(0, split)).filter(Boolean);
const extra = split < 0 ? [] : args.slice(split + 1);
const targets = names.length > 0 ? names : ALL;
const unknown = targets.filter((t) => !ALL.includes(t));
if (unknown.length > 0) {
  console.error(`unknown target ${unknown.join(', ')}: expected ${ALL.join(', ')}`);
  process.exit(2);
}

interface FileResult {
  readonly name: string;
  readonly status?: string;
  readonly assertionResults: readonly { readonly status: string }[];
}
const dir = mkdtempSync(path.join(tmpdir(), 'cesync-targets-'));
const cells = new Map<string, Map<string, string>>();
let failed = false;
for (const target of targets) {
  const out = path.join(dir, `${target}.json`);
  console.log(`\n=== integration suite against ${target} ===\n`);
  const run = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--project', 'integration', '--reporter=default', '--reporter=json', `--outputFile.json=${out}`, ...extra], {
    stdio: 'inherit',
    env: { ...process.env, CESYNC_TEST_TARGET: target },
  });
  if (run.status !== 0) failed = true;
  const files = existsSync(out) ? ((JSON.parse(readFileSync(out, 'utf8')) as { testResults: FileResult[] }).testResults ?? []) : [];
  if (files.length === 0) cells.set('(no results)', new Map([...(cells.get('(no results)') ?? new Map()), [target, `exit ${run.status}`]]));
  for (const f of files) {
    const file = path.relative(process.cwd(), f.name);
    // Tests left out by a filter (`-t`) are not counted as run; a file whose setup failed (its
    // tests all skipped) is FAILED all the same.
    const ran = f.assertionResults.filter((a) => !['skipped', 'pending', 'todo'].includes(a.status));
    const passed = ran.filter((a) => a.status === 'passed').length;
    const notRun = f.assertionResults.length - ran.length;
    const row = cells.get(file) ?? new Map<string, string>();
    row.set(target, `${passed}/${ran.length}${notRun > 0 ? ` (${notRun} not run)` : ''}${passed === ran.length && f.status !== 'failed' ? '' : ' FAILED'}`);
    cells.set(file, row);
  }
}
const header = ['test file', ...targets];
const rows = [...cells.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([file, row]) => [file, ...targets.map((t) => row.get(t) ?? '-')]);
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nTests passed per file and target:\n\n${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.map(line).join('\n')}\n`);
process.exit(failed ? 1 : 0);
