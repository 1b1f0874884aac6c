/** Connection options of @platformatic/kafka clients from the kafka section of the configuration. */
import { readFileSync } from 'node:fs';
import type { KafkaConfig } from '../config/consumer-schema.js';
import { CesyncError } from '../errors.js';

export function clientOptions(config: KafkaConfig, clientId: string) {
  let ca: Buffer | undefined;
  if (config.tls?.enabled && config.tls.caFile) {
    try {
      ca = readFileSync(config.tls.caFile);
    } catch (e) {
      throw new CesyncError('CONFIG_INVALID', `kafka.tls.caFile: cannot read ${config.tls.caFile}: ${(e as Error).message}`);
    }
  }
  return {
    clientId,
    bootstrapBrokers: config.brokers,
    connectTimeout: 10_000,
    requestTimeout: 30_000,
    // A few quick retries inside the client; longer outages are waited for by the consume loop.
    retries: 3,
    retryDelay: 500,
    ...(config.tls?.enabled ? { tls: { ...(ca ? { ca } : {}), rejectUnauthorized: config.tls.rejectUnauthorized } } : {}),
    ...(config.username !== undefined ? { sasl: { mechanism: config.mechanism, username: config.username, password: config.password } } : {}),
  };
}

/** Where the brokers are, for messages. */
export function brokersWhere(config: KafkaConfig): string {
  return config.brokers.join(',');
}

/** The distinct messages of an error and of what caused it, deepest (most telling) first, at most three. */
function causes(e: unknown): string[] {
  const seen = new Set<string>();
  const walk = (x: unknown, depth: number) => {
    if (!x || typeof x !== 'object' || depth > 6) return;
    const err = x as { message?: string; errors?: unknown[]; cause?: unknown };
    for (const inner of err.errors ?? []) walk(inner, depth + 1);
    walk(err.cause, depth + 1);
    const m = err.message?.replace(/\s+/g, ' ').trim();
    if (m) seen.add(m);
  };
  walk(e, 0);
  return [...seen].slice(0, 3);
}

/** A Kafka client's failure as a coded error: refused credentials, or the brokers not answering. */
export function kafkaError(e: unknown, where: string, what: string): CesyncError {
  if (e instanceof CesyncError) return e;
  const err = e as { name?: string };
  const text = causes(e).join('; ');
  if (err.name === 'AuthenticationError' || /SASL|authenticat/i.test(text)) return new CesyncError('STORE_AUTH', `Kafka at ${where} refused the credentials (${what}): ${text}`, { cause: e });
  return new CesyncError('STORE_UNAVAILABLE', `Kafka at ${where} did not answer (${what}): ${text || String(e)}`, { cause: e });
}
