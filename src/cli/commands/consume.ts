/**
 * `cesync consume`: read the configured topics in their consumer groups and apply each event with
 * its consumer's handler (docs/events.md), until SIGINT or SIGTERM (which stop it after the batch
 * in progress, committed), or, with --exit-when-idle, once no event came for that long. Thin:
 * wires each consumer (src/sync/consume-pipeline.ts) to the loop (src/events/consume.ts) and logs
 * what it reports.
 */
import { Command } from 'commander';
import { redactText } from '../../config/redact.js';
import { consume, type BatchReport, type ConsumeTotals } from '../../events/consume.js';
import type { ConsumedEvent } from '../../events/ports.js';
import type { EventHandler } from '../../events/handler.js';
import type { ConsumerConfig } from '../../config/consumer-schema.js';
import type { PipelineConfig } from '../../config/schema.js';
import { KafkaDeadLetters } from '../../kafka/dead-letters.js';
import { KafkaEventLog } from '../../kafka/event-log.js';
import { ConsumeMetrics } from '../../metrics/consume-metrics.js';
import { openConsumer, selectConsumers } from '../../sync/consume-pipeline.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import { connectStores } from '../../sync/stores.js';
import type { CliContext } from '../context.js';
import { createLogger } from '../logger.js';
import { addMetricsOptions, startMetrics, type MetricsFlags } from '../metrics-options.js';
import { addConfigOption, loadCliConfig, logLevelOption, positiveInt } from '../shared-options.js';

interface ConsumeFlags extends MetricsFlags {
  config?: string;
  consumer?: string[];
  dryRun?: boolean;
  exitWhenIdle?: number;
  logLevel: string;
}

const LAG_EVERY_MS = 10_000;
const CLOSE_MS = 10_000;
/** After everything closed, a process still held open by a client's stray handle exits after this. */
const EXIT_GRACE_MS = 5000;

/** The dry-run plan of the batch's i-th event (the handler numbers the events it was given: the parsed ones). */
function planned(r: BatchReport, i: number) {
  const parsedIndex = r.parsedAt.indexOf(i);
  return parsedIndex < 0 ? undefined : r.handled?.planned?.get(parsedIndex);
}

const where = (e: ConsumedEvent) => ({ topic: e.topic, partition: e.partition, offset: e.offset.toString() });

export function consumeCommand(ctx: CliContext): Command {
  const cmd = new Command('consume')
    .summary('apply change events from Kafka topics to the tables and their indices (a daemon)')
    .description(
      'Read each configured topic in its consumer group and apply its events with the consumer\'s handler: "sync-ids" syncs the documents ' +
        'of the ids an event names (as sync --ids), "replace-value" replaces a value in the rows of a Cassandra table that hold it (in ' +
        'scalar columns and inside lists and sets), then syncs their documents, so the index holds exactly what the table holds. Events ' +
        'are handled in batches; a batch\'s offsets are committed only once both stores acknowledged all its effects (at least once; a ' +
        'batch read again changes nothing). Events that cannot be parsed or applied go to the dead-letter topic with the reason; events ' +
        'that name rows that do not exist are skipped and counted. A store that does not answer is waited for, with nothing committed ' +
        'meanwhile. SIGINT/SIGTERM stop it after the batch in progress.',
    )
    .option('--consumer <name...>', 'consumers to run (default: every consumer of the configuration)')
    .option('--dry-run', 'print what each event would change (one JSON line per event), write nothing, commit no offsets')
    .option('--exit-when-idle <ms>', 'stop once no event came for this long (the topics are drained), e.g. for a one-off catch-up', positiveInt)
    .addOption(logLevelOption());
  addMetricsOptions(cmd).addHelpText(
    'after',
    '\nExit codes: 0 stopped by a signal or --exit-when-idle; 2 bad usage or configuration (an unknown consumer or pipeline, a column ' +
      'the table lacks); 3 a store (Cassandra, the search cluster, Kafka) is unreachable at the start or refused the credentials; 70 an internal error.\n\n' +
      'Example: cesync consume --config cesync.yaml --consumer ownership-transfer --metrics-port 9465   (docs/events.md)',
  );
  addConfigOption(cmd);
  cmd.action(async (flags: ConsumeFlags) => {
    const config = await loadCliConfig(ctx, flags.config);
    const consumers = selectConsumers(config, flags.consumer);
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const reason = (e: unknown) => redactText(e instanceof Error ? e.message : String(e), ctx.secrets);
    const stores = await connectStores(config);
    const closers: (() => Promise<void>)[] = [];
    // Each close is bounded: a client that does not answer its goodbye (a broker or node that
    // went away and came back) must not keep a stopped consumer from exiting.
    const named = async (what: string, close: () => Promise<void>) => {
      log.debug({ closing: what }, 'closing');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), CLOSE_MS)));
      const outcome = await Promise.race([close().then(() => 'closed' as const), late]).finally(() => clearTimeout(timer));
      if (outcome === 'late') log.warn({ closing: what, waitedMs: CLOSE_MS }, 'did not close in time; going on');
      else log.debug({ closed: what }, 'closed');
    };
    try {
      const expanded = await expandPipelines(config, stores);
      const served = await startMetrics(flags, log);
      closers.push(() => named('metrics server', () => served.close()));
      const metrics = served.metrics ? new ConsumeMetrics(served.metrics.registry) : undefined;
      const wired: { c: ConsumerConfig; handler: EventHandler; pipeline: PipelineConfig; events: KafkaEventLog; deadLetters: KafkaDeadLetters | undefined }[] = [];
      for (const c of consumers) {
        const { handler, pipeline } = await openConsumer(stores, { ...expanded, failureLedger: config.failureLedger }, c, {
          observer: served.metrics?.observer({ pipeline: c.handler.pipeline, direction: 'to-elasticsearch' }),
        });
        const events = new KafkaEventLog({
          kafka: config.kafka,
          consumer: handler.eventsPerBatch ? { ...c, batchSize: Math.min(c.batchSize, handler.eventsPerBatch) } : c,
          onCommitRefused: (e) => log.warn({ consumer: c.name, error: reason(e) }, 'a rebalance moved a partition before its commit; its events are read again by its new owner'),
          onRejoin: (e, attempt, delayMs) => log.warn({ consumer: c.name, attempt, retryInMs: delayMs, error: reason(e) }, 'the consumer stream ended (a rebalance, or Kafka not answering); joining the group again from the committed offsets'),
        });
        closers.push(() => named(`consumer ${c.name}`, () => events.close()));
        const deadLetters = c.deadLetterTopic && !flags.dryRun ? new KafkaDeadLetters(config.kafka, c.deadLetterTopic, c.name) : undefined;
        if (deadLetters) closers.push(() => named(`dead letters of ${c.name}`, () => deadLetters.close()));
        await events.start();
        wired.push({ c, handler, pipeline, events, deadLetters });
      }
      const stop = new AbortController();
      const signal = AbortSignal.any([ctx.signal, stop.signal]);
      log.info({ consumers: wired.map((w) => ({ name: w.c.name, topic: w.c.topic, groupId: w.c.groupId, pipeline: w.pipeline.name, handler: w.handler.kind })), dryRun: !!flags.dryRun }, 'consume started');
      const lagTimer = metrics
        ? setInterval(() => {
            for (const w of wired) w.events.lag().then((l) => metrics.setLag(w.c.name, l), () => undefined);
          }, LAG_EVERY_MS)
        : undefined;
      const onBatch = (name: string) => (r: BatchReport) => {
        metrics?.batch(name, r);
        if (r.dryRun) {
          r.events.forEach((e, i) => {
            const o = r.outcomes[i]!;
            const plan = planned(r, i);
            ctx.stdout.write(`${JSON.stringify({ consumer: name, ...where(e), outcome: o.kind, ...(o.kind !== 'applied' ? { reason: o.reason } : {}), ...(plan ? { rows: plan.rows, documents: plan.documents } : {}) })}\n`);
          });
          return;
        }
        const count = (k: string) => r.outcomes.filter((o) => o.kind === k).length;
        log.info({ consumer: name, events: r.events.length, applied: count('applied'), skipped: count('skipped'), failed: count('failed'), deadLettered: r.deadLettered, rowsChanged: r.outcomes.reduce((n, o) => n + (o.kind === 'applied' ? o.rowsChanged : 0), 0), documents: r.handled?.documents, seconds: Number(r.seconds.toFixed(3)) }, 'events applied');
        r.outcomes.forEach((o, i) => {
          if (o.kind === 'skipped') log.info({ consumer: name, ...where(r.events[i]!), reason: o.reason }, 'event skipped');
          else if (o.kind === 'failed') log.warn({ consumer: name, ...where(r.events[i]!), reason: o.reason, deadLetterTopic: wired.find((w) => w.c.name === name)?.c.deadLetterTopic }, 'event failed');
        });
      };
      const runs = wired.map((w) =>
        consume(w.events, w.handler, w.deadLetters, {
          signal,
          dryRun: !!flags.dryRun,
          idleExitMs: flags.exitWhenIdle,
          observer: {
            batch: onBatch(w.c.name),
            retry: (error, attempt, delayMs) => {
              metrics?.retries.inc({ consumer: w.c.name });
              log.warn({ consumer: w.c.name, attempt, retryInMs: delayMs, error: reason(error) }, 'store unavailable; the batch will be handled again, nothing committed');
            },
            dropped: (e, why) => log.error({ consumer: w.c.name, ...where(e), reason: why }, 'event failed and no deadLetterTopic is configured: it is logged here and committed'),
          },
        }).catch((e: unknown) => {
          // One consumer failing stops the others (after their batch in progress).
          stop.abort();
          throw e;
        }),
      );
      let totals: ConsumeTotals[];
      try {
        totals = await Promise.all(runs);
      } finally {
        clearInterval(lagTimer);
        await Promise.allSettled(runs);
      }
      log.info({ consumers: Object.fromEntries(wired.map((w, i) => [w.c.name, totals[i]])) }, 'consume stopped');
      if (flags.dryRun) ctx.stdout.write(`${JSON.stringify({ dryRun: true, totals: Object.fromEntries(wired.map((w, i) => [w.c.name, totals[i]])) })}\n`);
    } finally {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      await named('stores', () => stores.close()).catch(() => undefined);
      // Unreferenced: it never keeps the process alive itself, it only ends one that is done.
      setTimeout(() => {
        log.warn({ waitedMs: EXIT_GRACE_MS }, 'stopped, but a client still holds the process open; exiting');
        process.exit();
      }, EXIT_GRACE_MS).unref();
    }
  });
  return cmd;
}
