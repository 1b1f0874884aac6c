// Statistics over runs, the goals of the benchmark, and the printed table.

export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function spread(values: readonly number[]): Spread {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  const median = v.length === 0 ? NaN : v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0] ?? NaN, max: v[v.length - 1] ?? NaN, runs: v.length };
}

export interface Goal {
  goal: string;
  value: string;
  /** undefined: not measured in this run (e.g. RSS at 1M rows with --rows below 1M). */
  pass: boolean | undefined;
}

export interface StepRow {
  step: string;
  rate?: Spread;
  note: string;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const mb = (bytes: number | undefined) => (bytes === undefined || !Number.isFinite(bytes) ? 'n/a' : `${Math.round(bytes / 2 ** 20)} MB`);
export const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(1)}%`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function formatSteps(rows: readonly StepRow[]): string {
  return table(
    ['step', 'rows/s median', 'min-max', 'runs', 'notes'],
    rows.map((r) => [r.step, r.rate ? int(r.rate.median) : '', r.rate ? `${int(r.rate.min)}-${int(r.rate.max)}` : '', r.rate ? String(r.rate.runs) : '', r.note]),
  );
}

export function formatGoals(goals: readonly Goal[]): string {
  return table(
    ['goal', 'measured', 'result'],
    goals.map((g) => [g.goal, g.value, g.pass === undefined ? 'n/a' : g.pass ? 'PASS' : 'MISS']),
  );
}
