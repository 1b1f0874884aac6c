// `npm run test:reliability`: the reliability suite in full (at least 20 random stop points per
// command, stores stopped and started mid-run, 10,000 writes on both sides of a two-way
// pipeline), against the real servers, then one table of everything it tried.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { formatTable, RESULTS_FILE, type ResultRow } from '../test/reliability/results.ts';

rmSync(RESULTS_FILE, { force: true });
const run = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', '--project', 'integration', 'test/reliability', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, CESYNC_RELIABILITY: 'full', CESYNC_RELIABILITY_RESULTS: RESULTS_FILE },
});
const rows: ResultRow[] = existsSync(RESULTS_FILE)
  ? readFileSync(RESULTS_FILE, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as ResultRow)
  : [];
console.log(`\nWhat the reliability suite tried (${rows.length} cases):\n\n${formatTable(rows)}\n`);
process.exit(run.status ?? 1);
