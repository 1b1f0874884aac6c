/** `cesync status`: each pipeline's last run and progress, from the state store. */
import { Command } from 'commander';
import { connectStores } from '../../sync/stores.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import { selectPipelines } from '../../sync/sync-pipeline.js';
import { leaseName } from '../../engine/watch.js';
import { openPostgresTable } from '../../sync/postgres-pipeline.js';
import type { CliContext } from '../context.js';
import { addConfigOption, loadCliConfig } from '../shared-options.js';

export function statusCommand(ctx: CliContext): Command {
  const cmd = new Command('status')
    .summary("show each pipeline's last run and progress")
    .description("Show each pipeline's last run (status, when, counters) and, for an unfinished full sync, how many of its ranges (token ranges, key ranges) are done.")
    .option('-p, --pipeline <name...>', 'pipelines to show (default: all; a tables pipeline is shown table by table); a tables pipeline by its name (all its tables) or NAME.TABLE (one)')
    .option('--json', 'print JSON');
  addConfigOption(cmd);
  cmd.action(async (flags: { config?: string; pipeline?: string[]; json?: boolean }) => {
    const config = await loadCliConfig(ctx, flags.config);
    const stores = await connectStores(config);
    try {
      const pipelines = selectPipelines(await expandPipelines(config, stores), flags.pipeline);
      const rows = [];
      for (const p of pipelines) {
        const s = await stores.state.load(p.name);
        const watermark = await stores.state.loadWatermark(p.name, 'to-elasticsearch');
        const back = await stores.state.loadWatermark(p.name, 'to-cassandra');
        // A damaged saved verify is said as such; it never hides the rest of the status.
        const lastVerify = await stores.state.loadVerify(p.name).catch((e: unknown) => ({ damaged: (e as Error)?.message ?? String(e) }));
        // Rows marked pending (a flag, a queue) in a PostgreSQL pipeline: counted now; a count that
        // fails is said as such and hides nothing else.
        const pending =
          p.source === 'postgres' && p.pending
            ? await openPostgresTable(stores, p)
                .then((t) => t.pending!.count())
                .catch((e: unknown) => ({ error: (e as Error)?.message ?? String(e) }))
            : undefined;
        rows.push({
          pipeline: p.name,
          table: `${p.keyspace}.${p.table}`,
          index: p.index,
          watchedBy: await stores.state.leaseHolder(leaseName(p.name)),
          direction: p.direction,
          watermarkToElasticsearch: watermark ? { ...watermark, at: new Date(Math.floor(watermark.version / 1000)).toISOString() } : undefined,
          watermarkToCassandra: back ? { ...back, at: new Date(Math.floor(back.version / 1000)).toISOString() } : undefined,
          status: s?.status ?? 'never run',
          startedAt: s?.startedAt,
          updatedAt: s?.updatedAt,
          spansDone: s ? s.spans.filter((x) => x.done).length : undefined,
          spansTotal: s?.spans.length,
          counters: s?.counters,
          error: s?.error,
          lastVerify,
          ...(pending !== undefined ? { pending } : {}),
        });
      }
      if (flags.json) {
        ctx.stdout.write(`${JSON.stringify({ pipelines: rows }, null, 2)}\n`);
        return;
      }
      for (const r of rows) {
        let line = `${r.pipeline}: ${r.status}`;
        if (r.startedAt) line += `, started ${r.startedAt}, updated ${r.updatedAt}`;
        if (r.spansTotal) line += `, ${r.spansDone}/${r.spansTotal} ranges done`;
        if (r.counters) line += `\n  read ${r.counters.read ?? 0}, indexed ${r.counters.indexed ?? 0}, unchanged ${r.counters.unchanged ?? 0}, failed ${r.counters.failed ?? 0}`;
        if (r.error) line += `\n  error: ${r.error}`;
        if (r.watermarkToElasticsearch) line += `\n  incremental (to Elasticsearch) done up to ${r.watermarkToElasticsearch.at}`;
        if (typeof r.pending === 'number') line += `\n  pending: ${r.pending} ${r.pending === 1 ? 'row' : 'rows'} to index`;
        else if (r.pending) line += `\n  pending: cannot be counted: ${r.pending.error}`;
        if (r.watermarkToCassandra) line += `\n  incremental (to Cassandra) done up to ${r.watermarkToCassandra.at}`;
        line += r.watchedBy ? `\n  watched by ${r.watchedBy}` : '';
        if (r.lastVerify && 'damaged' in r.lastVerify) line += `\n  last verify: cannot be read: ${r.lastVerify.damaged}`;
        else if (r.lastVerify) {
          const v = r.lastVerify;
          const counts = Object.entries(v.counts).map(([c, n]) => `${c} ${n}`).join(', ');
          line += `\n  last verify${v.content ? ' (content)' : ''}${v.since ? ` since ${v.since}` : ''} at ${v.at}: ${v.inSync ? 'in sync' : `${counts}; ${v.driftSpans.length} of ${v.spans} ranges differ`}`;
        }
        ctx.stdout.write(`${line}\n`);
      }
    } finally {
      await stores.close();
    }
  });
  return cmd;
}
