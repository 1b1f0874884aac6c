/**
 * A Kafka topic read by a consumer group, as an EventLog (src/events/ports.ts), with
 * @platformatic/kafka. Offsets are never committed automatically: `commit(batch)` commits, per
 * partition, the offset after the batch's last event there, and the consume loop calls it only
 * once the batch's effects are acknowledged.
 *
 * Batches: events are taken from the client's stream as they arrive, up to `batchSize`, and a
 * batch is handed on once full or once no event came for `batchWaitMs`. While a batch is handled
 * nothing is read, so the client's buffer fills and it stops fetching (backpressure).
 *
 * A rebalance starts a new generation of the group. Events read in an older generation are
 * neither handed on nor committed afterwards: the client reads every partition it holds again
 * from its committed offset, and a partition that moved is read by its new owner from there. A
 * batch in progress during a rebalance is therefore not committed (`onCommitRefused` is told)
 * and its events are read again, which handlers make harmless (they change nothing the second
 * time). The same holds for a commit the group refuses (ILLEGAL_GENERATION and the like).
 *
 * The client ends its stream when a commit needs the group to be joined again, and when the
 * brokers stop answering. The log then joins again (from the committed offsets, so nothing
 * uncommitted is skipped), waiting with a backoff from 1 s to 30 s while the brokers do not
 * answer, and reports each attempt to `onRejoin`. Only the first join, at start, fails the run.
 */
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Consumer, findErrorBy, type Message, type MessagesStream } from '@platformatic/kafka';
import type { ConsumerConfig, KafkaConfig } from '../config/consumer-schema.js';
import type { ConsumedEvent, EventLog } from '../events/ports.js';
import { brokersWhere, clientOptions, kafkaError } from './client-options.js';

type Raw = Message<Buffer, Buffer, Buffer, Buffer>;

export interface KafkaEventLogOptions {
  readonly kafka: KafkaConfig;
  readonly consumer: ConsumerConfig;
  /** A commit the group refused (a rebalance moved the partition): its events are read again elsewhere. */
  readonly onCommitRefused?: (error: Error) => void;
  /** The stream ended (a rebalance, the brokers gone) and the group is joined again, in `delayMs`. */
  readonly onRejoin?: (error: Error, attempt: number, delayMs: number) => void;
}

const REJOIN_BACKOFF = { firstMs: 1000, maxMs: 30_000 };

export class KafkaEventLog implements EventLog {
  private client: Consumer<Buffer, Buffer, Buffer, Buffer>;
  /** Aborted when the client fails, to wake a wait for events. */
  private wake = new AbortController();
  private readonly options: KafkaEventLogOptions;
  private readonly where: string;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  /** Why the current stream failed (its 'error' is listened to for its whole life: an unheard one would end the process). */
  private failure: Error | undefined;
  /** Each event's message, and the stream it came from (whose commit it must go through). */
  private readonly messages = new WeakMap<ConsumedEvent, { m: Raw; stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> }>();

  constructor(options: KafkaEventLogOptions) {
    this.options = options;
    this.where = brokersWhere(options.kafka);
    this.client = this.createClient();
  }

  /**
   * A client of the group. Its failures end the current stream: a failed background rejoin
   * (which the client reports as 'error', and which unheard would end the process), and a
   * heartbeat that no broker answered for a whole rebalance timeout (a broker restarted, the
   * group forgot the member). Either way the log then starts over with a new client.
   */
  private createClient(): Consumer<Buffer, Buffer, Buffer, Buffer> {
    const { kafka, consumer } = this.options;
    const client = new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...clientOptions(kafka, `${kafka.clientId}-${consumer.name}`),
      // A JoinGroup may wait out the whole rebalance: its request must outlast it.
      requestTimeout: kafka.sessionTimeoutMs + 10_000,
      groupId: consumer.groupId,
      sessionTimeout: kafka.sessionTimeoutMs,
      heartbeatInterval: kafka.heartbeatIntervalMs,
      rebalanceTimeout: kafka.sessionTimeoutMs,
    });
    client.on('error', (e: Error) => this.fail(client, e));
    client.on('consumer:heartbeat:stalled', () => this.fail(client, new Error(`no heartbeat answered for ${kafka.sessionTimeoutMs} ms`)));
    return client;
  }

  private fail(client: Consumer<Buffer, Buffer, Buffer, Buffer>, e: Error): void {
    if (client !== this.client) return;
    this.failure ??= e;
    this.wake.abort();
  }

  /** Whether a message was read in the group's current generation, from a partition this consumer still holds. */
  private current(m: Raw): boolean {
    const generation = (m.metadata as { consumer?: { generationId?: number } } | undefined)?.consumer?.generationId;
    if (generation !== undefined && generation !== this.client.generationId) return false;
    const held = this.client.assignments;
    return !held || held.some((a) => a.topic === m.topic && a.partitions.includes(m.partition));
  }

  /** Joins the group and starts fetching (resolves once the client is consuming). */
  async start(): Promise<void> {
    this.stream = await this.open();
  }

  private watch(stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): MessagesStream<Buffer, Buffer, Buffer, Buffer> {
    this.failure = undefined;
    this.wake = new AbortController();
    const client = this.client;
    stream.on('error', (e: Error) => {
      if (this.stream === stream) this.fail(client, e);
    });
    // One 'readable' listener for the stream's whole life: between two waits a stream without one
    // is neither flowing nor paused, and the client's fetch loop stops ("nobody is consuming"),
    // so events published to a consumer already waiting were never read.
    stream.on('readable', () => undefined);
    return stream;
  }

  private async open(): Promise<MessagesStream<Buffer, Buffer, Buffer, Buffer>> {
    const { consumer } = this.options;
    try {
      return this.watch(
        await this.client.consume({
        topics: [consumer.topic],
        autocommit: false,
        mode: 'committed',
        fallbackMode: consumer.start,
        maxWaitTime: Math.max(50, Math.min(consumer.batchWaitMs, 1000)),
          highWaterMark: Math.max(16, consumer.batchSize * 2),
        }),
      );
    } catch (e) {
      throw kafkaError(e, this.where, `joining group ${consumer.groupId} on topic ${consumer.topic}`);
    }
  }

  /** A new stream after the last one ended, joined again from the committed offsets; waits while the brokers do not answer. */
  private async reopen(cause: Error, signal: AbortSignal): Promise<boolean> {
    await this.stream?.close().catch(() => undefined);
    this.stream = undefined;
    // A new client: the old one may hold connections and a membership that no broker knows any more.
    const old = this.client;
    this.client = this.createClient();
    await old.close(true).catch(() => undefined);
    for (let attempt = 1; !signal.aborted; attempt++) {
      const delayMs = Math.min(REJOIN_BACKOFF.maxMs, REJOIN_BACKOFF.firstMs * 2 ** Math.min(attempt - 1, 16));
      this.options.onRejoin?.(cause, attempt, delayMs);
      await sleep(delayMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) break;
      try {
        this.stream = await this.open();
        return true;
      } catch (e) {
        cause = e as Error;
      }
    }
    return false;
  }

  async *batches(signal: AbortSignal): AsyncGenerator<readonly ConsumedEvent[]> {
    if (!this.stream) await this.start();
    const { batchSize, batchWaitMs } = this.options.consumer;
    while (!signal.aborted) {
      const stream = this.stream!;
      const batch: ConsumedEvent[] = [];
      while (batch.length < batchSize && !signal.aborted && !this.failure) {
        const m = stream.read() as Raw | null;
        if (m !== null) {
          // Read before a rebalance: the client reads it again from the committed offset.
          if (this.current(m)) batch.push(this.event(m, stream));
          continue;
        }
        if (stream.destroyed || stream.readableEnded) {
          this.failure ??= new Error('the consumer stream ended');
          break;
        }
        // Wait for more, at most batchWaitMs once the batch has something (else until the signal).
        const done = new AbortController();
        const wait = AbortSignal.any([signal, done.signal, this.wake.signal, ...(batch.length > 0 ? [AbortSignal.timeout(Math.max(1, batchWaitMs))] : [])]);
        try {
          await Promise.race([once(stream, 'readable', { signal: wait }), once(stream, 'close', { signal: wait }), once(stream, 'error', { signal: wait })]);
        } catch {
          // The wait ended: a batch with events goes on, or the signal stops the loop.
          if (batch.length > 0) break;
        } finally {
          // The listeners of the waits that did not end go with it.
          done.abort();
        }
      }
      if (this.failure) {
        // Events read from a stream that failed are not handed on: they are not committed, so
        // they are read again after the rejoin, and handing them on now would do the work twice.
        if (!(await this.reopen(this.failure, signal))) return;
        continue;
      }
      if (batch.length > 0) yield batch;
    }
  }

  private event(m: Raw, stream: MessagesStream<Buffer, Buffer, Buffer, Buffer>): ConsumedEvent {
    const e: ConsumedEvent = {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      ...(m.key && m.key.length > 0 ? { key: m.key.toString('utf8') } : {}),
      value: m.value ?? undefined,
      timestamp: Number(m.timestamp),
    };
    this.messages.set(e, { m, stream });
    return e;
  }

  async commit(batch: readonly ConsumedEvent[]): Promise<void> {
    const last = new Map<string, { m: Raw; stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> }>();
    for (const e of batch) {
      const read = this.messages.get(e);
      const key = `${e.topic}:${e.partition}`;
      if (read && (!last.has(key) || last.get(key)!.m.offset < read.m.offset)) last.set(key, read);
    }
    for (const { m, stream } of last.values()) {
      // A stream that ended (a rejoin) commits nothing more: its generation is gone, and the
      // events are read again from the committed offsets.
      if (stream !== this.stream || stream.destroyed || !this.current(m)) {
        this.options.onCommitRefused?.(new Error(`${m.topic}:${m.partition} at ${m.offset} was read before a rebalance (or its stream ended): not committed, read again from the committed offset`));
        continue;
      }
      const done = new AbortController();
      try {
        await Promise.race([
          m.commit(),
          once(stream, 'close', { signal: done.signal }).then(() => {
            throw Object.assign(new Error('the consumer stream ended during the commit'), { needsRejoin: true });
          }),
        ]);
      } catch (e) {
        // Refused because the group moved on (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
        // REBALANCE_IN_PROGRESS): the partition's events are read again after the rejoin.
        if ((e as { needsRejoin?: boolean }).needsRejoin || findErrorBy(e as Error, 'needsRejoin', true)) {
          this.options.onCommitRefused?.(e as Error);
          continue;
        }
        throw kafkaError(e, this.where, `committing offsets of ${m.topic}`);
      } finally {
        done.abort();
      }
    }
  }

  async lag(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    try {
      const lags = await this.client.getLag({ topics: [this.options.consumer.topic] });
      for (const [topic, partitions] of lags) partitions.forEach((l, p) => l >= 0n && out.set(`${topic}:${p}`, Number(l)));
    } catch (e) {
      throw kafkaError(e, this.where, 'reading the lag');
    }
    return out;
  }

  /** The partitions this consumer holds now. */
  assignments(): { topic: string; partitions: number[] }[] {
    return (this.client.assignments ?? []).map((a) => ({ topic: a.topic, partitions: [...a.partitions] }));
  }

  async close(): Promise<void> {
    await this.stream?.close().catch(() => undefined);
    await this.client.close(true).catch(() => undefined);
  }
}
