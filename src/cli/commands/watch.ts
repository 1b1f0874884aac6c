/**
 * `cesync watch`: keep every pipeline of a configuration in step, continuously, until SIGINT or
 * SIGTERM (which stop it cleanly after the batch in progress). Thin: builds one step per pipeline
 * and direction, hands them to the engine's watch loop, and logs what it reports (changes
 * applied, steps retried through a store outage, lease renewals that failed).
 */
import { hostname } from 'node:os';
import { Command } from 'commander';
import { NdjsonFailureLedger } from '../../engine/failure-ledger.js';
import { watch, type WatchStep } from '../../engine/watch.js';
import { connectStores } from '../../sync/stores.js';
import { expandPipelines } from '../../sync/expand-pipelines.js';
import { directionsOf, selectPipelines, syncPipelineIncremental, syncPipelineToCassandra } from '../../sync/sync-pipeline.js';
import { redactText } from '../../config/redact.js';
import type { CliContext } from '../context.js';
import { createLogger } from '../logger.js';
import { addConfigOption, loadCliConfig, logLevelOption, positiveInt } from '../shared-options.js';
import { addMetricsOptions, startMetrics, type MetricsFlags } from '../metrics-options.js';

interface WatchFlags extends MetricsFlags {
  config?: string;
  pipeline?: string[];
  interval?: number;
  leaseTtl?: number;
  logLevel: string;
}

export function watchCommand(ctx: CliContext): Command {
  const cmd = new Command('watch')
    .summary('keep pipelines in step continuously (a daemon)')
    .description(
      "Run every pipeline's incremental sync (since the last run) in a loop: at once again when a batch was full, " +
        'else after the poll interval. A lease per pipeline in the state store keeps a second watcher out; a crashed ' +
        "watcher's lease expires by itself; the leases are renewed every third of their TTL while the steps run, and a " +
        'watcher that loses one stops at once. A store that does not answer is waited for (the step is retried with ' +
        'backoff from 1 s to 30 s) as long as the leases can be renewed. SIGINT/SIGTERM stop it after the batch in ' +
        'progress, with what was acknowledged saved. `cesync status` shows who watches what and how far each pipeline is.',
    )
    .option('-p, --pipeline <name...>', 'pipelines to watch (default: all); a tables pipeline by its name (all its tables, as they are when the watch starts) or NAME.TABLE (one)')
    .option('--interval <ms>', 'pause between rounds when nothing was pending (default: watch.intervalMs, 1000)', positiveInt)
    .option('--lease-ttl <ms>', 'lease time to live (default: watch.leaseTtlMs, 30000)', positiveInt)
    .addOption(logLevelOption());
  addMetricsOptions(cmd)
    .addHelpText(
      'after',
      '\nExit codes: 0 stopped by a signal; 2 bad usage, or a pipeline that does not fit its table or index; 3 a store is ' +
        'unreachable when the watch starts, or refused the credentials or a request; 6 another watcher holds a pipeline, ' +
        'or this watcher lost its lease (taken over, or not renewable for a whole TTL); 70 an internal error.\n\n' +
        'Example: cesync watch --config cesync.yaml --metrics-port 9464   (then: curl http://127.0.0.1:9464/metrics; see docs/metrics.md)',
    );
  addConfigOption(cmd);
  cmd.action(async (flags: WatchFlags) => {
    const config = await loadCliConfig(ctx, flags.config);
    const log = createLogger({ level: flags.logLevel, pretty: ctx.interactive });
    const stores = await connectStores(config);
    let pipelines;
    try {
      // The tables of `tables` pipelines as they are when the watch starts (a table created later waits for the next start).
      pipelines = selectPipelines(await expandPipelines(config, stores), flags.pipeline);
    } catch (e) {
      await stores.close();
      throw e;
    }
    let served;
    try {
      served = await startMetrics(flags, log);
    } catch (e) {
      await stores.close();
      throw e;
    }
    const { metrics } = served;
    const stopVerifies = metrics?.followVerifies(
      pipelines.map((p) => p.name),
      (p) => stores.state.loadVerify(p),
    );
    const owner = `${hostname()}:${process.pid}`;
    const steps: WatchStep[] = pipelines.flatMap((p) =>
      directionsOf(p).map((direction) => {
        const runOptions = (signal: AbortSignal) => ({
          failures: new NdjsonFailureLedger(config.failureLedger),
          failureLedgerPath: config.failureLedger,
          signal,
          observer: metrics?.observer({ pipeline: p.name, direction }),
        });
        return {
          pipeline: p.name,
          direction,
          batchSize: p.incremental.batchSize,
          run: (signal: AbortSignal) =>
            direction === 'to-cassandra'
              ? syncPipelineToCassandra(stores, p, { last: true }, runOptions(signal))
              : syncPipelineIncremental(stores, p, { last: true }, runOptions(signal)),
        };
      }),
    );
    const heldBack = new Map<string, string | undefined>();
    const reason = (e: unknown) => redactText(e instanceof Error ? e.message : String(e), ctx.secrets);
    try {
      log.info({ owner, pipelines: pipelines.map((p) => p.name) }, 'watch started');
      const { rounds } = await watch(steps, stores.state, {
        owner,
        intervalMs: flags.interval ?? config.watch.intervalMs,
        leaseTtlMs: flags.leaseTtl ?? config.watch.leaseTtlMs,
        signal: ctx.signal,
        onLease: (pipeline, held) => metrics?.leaseHeld(pipeline, held),
        onStep: (step, r) => {
          if (r.read > 0 || r.failed > 0) {
            log.info({ pipeline: step.pipeline, direction: step.direction, read: r.read, indexed: r.indexed, unchanged: r.unchanged, failed: r.failed, watermark: r.watermark }, 'changes applied');
          }
          // Once per transaction, not every round.
          if (r.heldBackSince && heldBack.get(step.pipeline) !== r.heldBackSince) {
            log.warn({ pipeline: step.pipeline, openSince: r.heldBackSince }, 'a transaction open in the source holds the window back; later changes wait until it ends');
          }
          heldBack.set(step.pipeline, r.heldBackSince);
        },
        onRetry: (step, error, { attempt, delayMs }) => {
          log.warn({ pipeline: step.pipeline, direction: step.direction, attempt, retryInMs: delayMs, error: reason(error) }, 'store unavailable; retrying the step');
        },
        onRenewError: (pipeline, error) => {
          log.warn({ pipeline, error: reason(error) }, 'lease renewal failed; retrying');
        },
      });
      log.info({ rounds }, 'watch stopped');
    } finally {
      stopVerifies?.();
      await served.close();
      await stores.close();
    }
  });
  return cmd;
}
