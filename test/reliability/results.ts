// What the reliability suite tried, one row per case: printed as a table by each file when it
// ends, and collected by `npm run test:reliability` (scripts/reliability.ts) into one table.
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `quick` inside `npm test` (CI's time), `full` under `npm run test:reliability`. */
export const MODE: 'quick' | 'full' = process.env.CESYNC_RELIABILITY === 'full' ? 'full' : 'quick';

/** Pick by mode: `scale(3, 24)` is 3 in `npm test` and 24 in `npm run test:reliability`. */
export const scale = (quick: number, full: number): number => (MODE === 'full' ? full : quick);

/** Time limit of one case (vitest's per-test timeout): the full runs take many minutes. */
export const CASE_TIMEOUT_MS = scale(600_000, 3_600_000);

export interface ResultRow {
  readonly suite: string;
  /** What was done to cesync. */
  readonly tried: string;
  /** How many times (kill points, writes, inputs). */
  readonly times: number;
  /** What was checked afterwards, and what was found. */
  readonly outcome: string;
}

export const RESULTS_FILE = process.env.CESYNC_RELIABILITY_RESULTS ?? join(tmpdir(), 'cesync-reliability.ndjson');

const rows: ResultRow[] = [];

export function record(row: ResultRow): void {
  rows.push(row);
  appendFileSync(RESULTS_FILE, `${JSON.stringify(row)}\n`);
}

export function formatTable(all: readonly ResultRow[]): string {
  const head = ['suite', 'tried', 'times', 'outcome'];
  const cells = all.map((r) => [r.suite, r.tried, String(r.times), r.outcome]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** The rows this file recorded, as a table (call in afterAll). */
export function printTable(): void {
  if (rows.length > 0) console.log(`\n${formatTable(rows)}\n`);
}
