/**
 * The dead-letter topic: an event that cannot be parsed or applied is written there as it was
 * (same key and value), with headers that say why and where it came from. `send` resolves once
 * every in-sync replica has it (acks -1), so the consume loop commits the original only after.
 */
import { Producer } from '@platformatic/kafka';
import type { KafkaConfig } from '../config/consumer-schema.js';
import type { ConsumedEvent, DeadLetters } from '../events/ports.js';
import { brokersWhere, clientOptions, kafkaError } from './client-options.js';

export class KafkaDeadLetters implements DeadLetters {
  private readonly producer: Producer<Buffer, Buffer, Buffer, Buffer>;
  private readonly topic: string;
  private readonly where: string;

  constructor(kafka: KafkaConfig, topic: string, consumerName: string) {
    this.topic = topic;
    this.where = brokersWhere(kafka);
    this.producer = new Producer({ ...clientOptions(kafka, `${kafka.clientId}-${consumerName}-dead-letters`), autocreateTopics: true });
  }

  async send(event: ConsumedEvent, reason: { readonly handler: string; readonly error: string }): Promise<void> {
    try {
      await this.producer.send({
        acks: -1,
        messages: [
          {
            topic: this.topic,
            ...(event.key !== undefined ? { key: Buffer.from(event.key) } : {}),
            value: event.value ?? Buffer.alloc(0),
            headers: new Map(
              Object.entries({
                'cesync-error': reason.error.slice(0, 4000),
                'cesync-handler': reason.handler,
                'cesync-source': `${event.topic}:${event.partition}:${event.offset}`,
                'cesync-failed-at': new Date().toISOString(),
              }).map(([k, v]) => [Buffer.from(k), Buffer.from(v)]),
            ),
          },
        ],
      });
    } catch (e) {
      throw kafkaError(e, this.where, `writing to the dead-letter topic ${this.topic}`);
    }
  }

  async close(): Promise<void> {
    await this.producer.close().catch(() => undefined);
  }
}
