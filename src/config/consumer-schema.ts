/**
 * The configuration of `cesync consume`: the Kafka cluster, and consumers that each read a topic
 * in a consumer group and hand its events to one handler (docs/events.md).
 */
import { z } from 'zod';
import { EVENT_PATH } from '../events/event-path.js';

const eventPath = z.string().regex(EVENT_PATH, 'an event path: fields separated by dots, [*] or [N] after a field for array elements (e.g. edata.toUserProfile.userId, objectIds[*])');
const columnName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$|^"[^"]+"$/, 'a CQL identifier (letters, digits, underscore, or "quoted")');
const scalar = z.union([z.string(), z.number(), z.boolean()]);

export const kafkaSchema = z
  .strictObject({
    brokers: z.array(z.string().min(1)).min(1).default(['127.0.0.1:9092']).describe('Bootstrap brokers as host:port.'),
    clientId: z.string().min(1).default('cesync').describe('Client id the brokers see (and log).'),
    username: z.string().optional().describe('SASL user (SASL/PLAIN or SCRAM with mechanism).'),
    password: z.string().optional().describe('SASL password; use ${ENV} substitution, never a literal.'),
    mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']).default('PLAIN').describe('SASL mechanism, with username and password.'),
    tls: z
      .strictObject({
        enabled: z.boolean().default(true),
        caFile: z.string().optional().describe('PEM file of the certificate authority to trust.'),
        rejectUnauthorized: z.boolean().default(true).describe('Refuse brokers whose certificate does not verify.'),
      })
      .optional()
      .describe('TLS to the brokers.'),
    sessionTimeoutMs: z
      .number()
      .int()
      .min(6000)
      .default(30_000)
      .describe("A consumer that sends no heartbeat for this long leaves the group, and its partitions go to the others (a killed consumer's events wait this long)."),
    heartbeatIntervalMs: z.number().int().positive().default(3000).describe('Heartbeats to the group coordinator.'),
  })
  .refine((k) => (k.username === undefined) === (k.password === undefined), { message: 'give both username and password, or neither' })
  .describe('The Kafka cluster that `cesync consume` reads events from.');

/** { path: value } or { path: [values] }: an event is handled only when each path holds one of them. */
const whenSchema = z
  .record(eventPath, z.union([scalar, z.array(scalar).min(1)]))
  .describe('Handle an event only when each path holds this value (or one of these); other events are skipped and counted.');

const syncIdsSchema = z
  .strictObject({
    kind: z.literal('sync-ids'),
    pipeline: z.string().min(1).describe('The pipeline whose documents are synced.'),
    ids: z
      .array(eventPath)
      .min(1)
      .describe('Paths to the ids in the event: each value (or each element of an array) is a document id, as `cesync sync --ids` takes it.'),
    when: whenSchema.optional(),
    deleteMissing: z.boolean().default(false).describe('Delete the documents of ids that have no row (version-guarded, as sync --ids --delete-missing).'),
  })
  .describe('Sync the documents of the ids an event names, batched across the events of a batch.');

const replacedColumn = z.union([
  columnName,
  z.strictObject({
    column: columnName,
    field: z
      .string()
      .min(1)
      .optional()
      .describe('The document field that holds the value, as a term query finds it (e.g. createdBy.raw); default: the column name.'),
  }),
]);

const requireSchema = z
  .strictObject({
    keyspace: columnName.optional().describe("Keyspace of the table (default: the pipeline's)."),
    table: columnName.describe('A table that must hold a row for the event to apply (e.g. sunbird.user for the users it names).'),
    key: z.record(columnName, eventPath).describe('{ keyColumn: eventPath }: the whole primary key of the row, from the event.'),
    columns: z
      .record(columnName, eventPath)
      .optional()
      .describe('{ column: eventPath }: the row must also hold these values (e.g. rootorgid: edata.organisationId); an empty or missing event value is not checked.'),
  })
  .describe('A row that must exist: an event naming a row that does not (or that does not match) is skipped and counted.');

const replaceValueSchema = z
  .strictObject({
    kind: z.literal('replace-value'),
    pipeline: z.string().min(1).describe('The Cassandra pipeline whose table is changed; its documents follow through the versioned sync.'),
    from: eventPath.describe('Path to the value to replace (e.g. edata.fromUserProfile.userId).'),
    to: eventPath.describe('Path to the value it becomes (e.g. edata.toUserProfile.userId).'),
    columns: z
      .array(replacedColumn)
      .min(1)
      .describe('Columns that may hold the value: a scalar column equal to it is set to the new value; in a list or set the element is replaced (no duplicates).'),
    where: z
      .record(columnName, z.union([z.strictObject({ in: z.array(scalar).min(1) }), z.strictObject({ path: eventPath })]))
      .optional()
      .describe('{ column: { in: [values] } } or { column: { path: eventPath } }: only rows that also hold these values are changed (e.g. status: { in: [0, 1] }).'),
    when: whenSchema.optional(),
    require: z.array(requireSchema).default([]).describe('Rows that must exist for an event to apply (skipped and counted otherwise).'),
    batchSize: z.number().int().min(1).max(1000).default(10).describe('Row changes per Cassandra batch (Sunbird: threshold.batch.write.size).'),
  })
  .describe('Replace a value in the rows of a table that hold it, in Cassandra first, then in their documents.');

export const consumerSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "_" and "-"')
      .describe('Names the consumer in logs, metrics and --consumer.'),
    topic: z.string().min(1).describe('The topic read.'),
    groupId: z.string().min(1).describe('The consumer group: consumers of one group share the partitions; committed offsets are kept per group.'),
    deadLetterTopic: z
      .string()
      .min(1)
      .optional()
      .describe('Events that cannot be parsed or applied are written here, with the reason in headers; without one they are logged and counted.'),
    handler: z.discriminatedUnion('kind', [syncIdsSchema, replaceValueSchema]),
    batchSize: z.number().int().min(1).max(10_000).default(100).describe('Events handled together (their ids synced in one targeted sync, their offsets committed at once).'),
    batchWaitMs: z.number().int().min(0).default(200).describe('A batch is handled once it is full or no event came for this long.'),
    start: z.enum(['earliest', 'latest']).default('earliest').describe('Where a group without committed offsets starts.'),
  })
  .describe('A topic read by a consumer group, its events applied by one handler.');

export type KafkaConfig = z.infer<typeof kafkaSchema>;
export type ConsumerConfig = z.infer<typeof consumerSchema>;
export type SyncIdsConfig = z.infer<typeof syncIdsSchema>;
export type ReplaceValueConfig = z.infer<typeof replaceValueSchema>;
