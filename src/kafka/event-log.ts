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
 * A rebalance can take a partition away while its batch is handled: its commit is then refused
 * by the group, which is harmless (the new owner reads those events again, and handlers change
 * nothing the second time), so such a refusal is reported to `onCommitRefused`, not thrown.
 */
import { once } from 'node:events';
import { Consumer, type Message, type MessagesStream } from '@platformatic/kafka';
import type { ConsumerConfig, KafkaConfig } from '../config/consumer-schema.js';
import type { ConsumedEvent, EventLog } from '../events/ports.js';
import { brokersWhere, clientOptions, kafkaError } from './client-options.js';

type Raw = Message<Buffer, Buffer, Buffer, Buffer>;

export interface KafkaEventLogOptions {
  readonly kafka: KafkaConfig;
  readonly consumer: ConsumerConfig;
  /** A commit the group refused (a rebalance moved the partition): its events are read again elsewhere. */
  readonly onCommitRefused?: (error: Error) => void;
}

export class KafkaEventLog implements EventLog {
  private readonly client: Consumer<Buffer, Buffer, Buffer, Buffer>;
  private readonly options: KafkaEventLogOptions;
  private readonly where: string;
  private stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  private readonly messages = new WeakMap<ConsumedEvent, Raw>();

  constructor(options: KafkaEventLogOptions) {
    this.options = options;
    this.where = brokersWhere(options.kafka);
    this.client = new Consumer({
      ...clientOptions(options.kafka, `${options.kafka.clientId}-${options.consumer.name}`),
      groupId: options.consumer.groupId,
      sessionTimeout: options.kafka.sessionTimeoutMs,
      heartbeatInterval: options.kafka.heartbeatIntervalMs,
      rebalanceTimeout: options.kafka.sessionTimeoutMs,
    });
  }

  /** Joins the group and starts fetching (resolves once the client is consuming). */
  async start(): Promise<void> {
    const { consumer } = this.options;
    try {
      this.stream = await this.client.consume({
        topics: [consumer.topic],
        autocommit: false,
        mode: 'committed',
        fallbackMode: consumer.start,
        maxWaitTime: Math.max(50, Math.min(consumer.batchWaitMs, 1000)),
        highWaterMark: Math.max(16, consumer.batchSize * 2),
      });
    } catch (e) {
      throw kafkaError(e, this.where, `joining group ${consumer.groupId} on topic ${consumer.topic}`);
    }
  }

  async *batches(signal: AbortSignal): AsyncGenerator<readonly ConsumedEvent[]> {
    if (!this.stream) await this.start();
    const stream = this.stream!;
    const { batchSize, batchWaitMs } = this.options.consumer;
    let failure: Error | undefined;
    const onError = (e: Error) => (failure = e);
    stream.on('error', onError);
    try {
      while (!signal.aborted) {
        const batch: ConsumedEvent[] = [];
        while (batch.length < batchSize && !signal.aborted) {
          if (failure) throw kafkaError(failure, this.where, `reading ${this.options.consumer.topic}`);
          const m = stream.read() as Raw | null;
          if (m !== null) {
            batch.push(this.event(m));
            continue;
          }
          if (stream.destroyed || stream.readableEnded) throw kafkaError(failure ?? new Error('the consumer stream closed'), this.where, `reading ${this.options.consumer.topic}`);
          // Wait for more, at most batchWaitMs once the batch has something (else until the signal).
          const wait = AbortSignal.any([signal, ...(batch.length > 0 ? [AbortSignal.timeout(Math.max(1, batchWaitMs))] : [])]);
          try {
            await Promise.race([once(stream, 'readable', { signal: wait }), once(stream, 'error', { signal: wait })]);
          } catch {
            // The wait ended: a full-enough batch goes on, or the signal stops the loop.
            if (batch.length > 0) break;
          }
        }
        if (batch.length > 0) yield batch;
      }
    } finally {
      stream.off('error', onError);
    }
  }

  private event(m: Raw): ConsumedEvent {
    const e: ConsumedEvent = {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      ...(m.key && m.key.length > 0 ? { key: m.key.toString('utf8') } : {}),
      value: m.value ?? undefined,
      timestamp: Number(m.timestamp),
    };
    this.messages.set(e, m);
    return e;
  }

  async commit(batch: readonly ConsumedEvent[]): Promise<void> {
    const last = new Map<string, Raw>();
    for (const e of batch) {
      const m = this.messages.get(e);
      const key = `${e.topic}:${e.partition}`;
      if (m && (!last.has(key) || last.get(key)!.offset < m.offset)) last.set(key, m);
    }
    for (const m of last.values()) {
      try {
        await m.commit();
      } catch (e) {
        const text = String((e as Error).message ?? e);
        if (/REBALANCE|ILLEGAL_GENERATION|UNKNOWN_MEMBER|FENCED|rejoin|not a member|generation/i.test(text + JSON.stringify((e as { errors?: unknown }).errors ?? ''))) {
          this.options.onCommitRefused?.(e as Error);
          continue;
        }
        throw kafkaError(e, this.where, `committing offsets of ${m.topic}`);
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
