// docs/grafana-dashboard.json asks only for series cesync exports: every metric name in its PromQL
// is one the registry serves (names taken from the registry itself), and every cesync_ metric has
// a panel.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CesyncMetrics } from '../../src/metrics/metrics.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
  panels: Panel[];
  templating: { list: { query: string }[] };
};

/** The series names a registry's scrape holds: a histogram's _bucket/_sum/_count, a summary's too. */
async function exported(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const m of await new CesyncMetrics().registry.getMetricsAsJSON()) {
    const type = String(m.type);
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const s of suffixes) names.add(`${m.name}${s}`);
  }
  return names;
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names of a PromQL expression: identifiers that are not functions, keywords, labels or strings. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // strings
    .replace(/\{[^}]*\}/g, '') // label matchers
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  const names: string[] = [];
  for (const m of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = bare.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

describe('docs/grafana-dashboard.json', () => {
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));

  it('has panels with queries', () => {
    expect(exprs.length).toBeGreaterThan(10);
    expect(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$p"}[$__rate_interval])))')).toEqual(['a_bucket']);
  });

  it('names only series cesync exports', async () => {
    const known = await exported();
    for (const { panel, expr } of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) expect(known, `${panel}: ${n} in ${expr}`).toContain(n);
    }
    for (const v of dashboard.templating.list) {
      const metric = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(v.query)?.[1];
      expect(known).toContain(metric);
    }
  });

  it('shows every cesync metric', async () => {
    const used = new Set(exprs.flatMap((e) => metricNames(e.expr)).map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    const ours = (await new CesyncMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name);
    expect(ours.length).toBe(11);
    for (const name of ours) expect(used, name).toContain(name);
  });
});
