/**
 * The configuration schema: one source of truth for validation, defaults, the JSON Schema
 * shipped for editors (`cesync config schema`) and the types the rest of the code uses.
 *
 * Every object is strict: an unknown key is an error that names the key, so a typo never
 * silently falls back to a default.
 */
import { z } from 'zod';
import { consumerSchema, kafkaSchema } from './consumer-schema.js';

const tlsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Use TLS for this connection.'),
    caFile: z.string().optional().describe('PEM file of the certificate authority to trust.'),
    certFile: z.string().optional().describe('PEM client certificate (mutual TLS).'),
    keyFile: z.string().optional().describe('PEM private key of the client certificate.'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe('Refuse servers whose certificate does not verify. Turn off only for testing.'),
  })
  .describe('TLS settings.');

export const cassandraSchema = z
  .strictObject({
    contactPoints: z
      .array(z.string().min(1))
      .min(1)
      .default(['127.0.0.1:9042'])
      .describe('Cassandra nodes as host or host:port.'),
    localDataCenter: z.string().min(1).default('datacenter1').describe('Data centre of the contact points.'),
    username: z.string().optional().describe('User for PasswordAuthenticator.'),
    password: z.string().optional().describe('Password; use ${ENV} substitution, never a literal.'),
    tls: tlsSchema.optional(),
    consistency: z
      .enum(['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'ALL'])
      .default('LOCAL_ONE')
      .describe('Read consistency of the scans (full sync, verify, incremental scans of keys and write times).'),
    decisionConsistency: z
      .enum(['ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'EACH_QUORUM', 'ALL'])
      .default('LOCAL_QUORUM')
      .describe(
        'Consistency of what decides or persists: key reads that decide a delete or confirm a write (targeted sync, repair, the Data Sync API), ' +
          'the way back (writes into the table), and the state store (progress, watermarks, leases).',
      ),
    requestTimeoutMs: z.number().int().positive().default(30_000).describe('Timeout of one CQL request.'),
  })
  .describe('The Cassandra cluster that holds the tables.');

/** How cesync reaches a search cluster: the same settings for Elasticsearch and OpenSearch. */
function searchClusterSchema(product: 'Elasticsearch' | 'OpenSearch', defaultNode: string) {
  return z
    .strictObject({
      node: z
        .union([z.url(), z.array(z.url()).min(1)])
        .default(defaultNode)
        .describe(`${product} URL, or a list of them (https:// for TLS).`),
      version: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe(`Major version the cluster must run (e.g. ${product === 'OpenSearch' ? '2' : '8'}): a server of another major is refused at start. Default: any supported.`),
      apiKey: z.string().optional().describe('API key (the base64 "id:key" form).'),
      username: z.string().optional().describe('Basic auth user.'),
      password: z.string().optional().describe('Basic auth password; use ${ENV} substitution, never a literal.'),
      tls: tlsSchema.optional(),
      requestTimeoutMs: z.number().int().positive().default(60_000).describe('Timeout of one HTTP request.'),
      maxRetries: z
        .number()
        .int()
        .min(0)
        .default(5)
        .describe('Retries of a failed request (timeout, 429, 5xx, connection) with backoff.'),
    })
    .refine((es) => !(es.apiKey && es.username), { message: 'give either apiKey or username/password, not both' });
}

export const elasticsearchSchema = searchClusterSchema('Elasticsearch', 'http://127.0.0.1:9200').describe(
  'The Elasticsearch cluster (7.14 and newer, 8, 9) that holds the indices. For OpenSearch, write the same settings under opensearch: instead.',
);

export const opensearchSchema = searchClusterSchema('OpenSearch', 'http://127.0.0.1:9200').describe(
  'The OpenSearch cluster (2.x, 3.x) that holds the indices, instead of an elasticsearch section.',
);

export const postgresSchema = z
  .strictObject({
    connectionString: z
      .string()
      .min(1)
      .optional()
      .describe('A libpq connection URI (postgres://user@host:5432/database); the keys below override its parts. Put the password in ${ENV}, never a literal.'),
    host: z.string().min(1).optional().describe('Server host (default: from connectionString, else localhost).'),
    port: z.number().int().min(1).max(65535).optional().describe('Server port (default 5432).'),
    database: z.string().min(1).optional().describe('Database that holds the tables.'),
    user: z.string().min(1).optional().describe('Role to connect as.'),
    password: z.string().optional().describe('Password; use ${ENV} substitution, never a literal.'),
    tls: tlsSchema.optional(),
    poolSize: z.number().int().min(1).max(100).default(8).describe('Connections in the pool (ranges read in parallel take one each).'),
    requestTimeoutMs: z.number().int().positive().default(60_000).describe('statement_timeout of every query, milliseconds.'),
  })
  .describe('The PostgreSQL server that holds the tables of source: postgres pipelines (and the state, with state.store: postgres).');

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$|^"[^"]+"$/, 'a CQL identifier (letters, digits, underscore, or "quoted")');

const throttleSchema = z
  .strictObject({
    blockSize: z.number().int().min(1).optional().describe('Pause after every this many writes (with sleepMs).'),
    sleepMs: z.number().int().min(0).optional().describe('Length of the pause after each block, milliseconds.'),
    ratePerSecond: z.number().positive().optional().describe('At most this many writes per second.'),
  })
  .describe('Slow writes down to run beside production traffic.');

const stateSchema = z
  .strictObject({
    store: z
      .enum(['cassandra', 'postgres', 'file'])
      .optional()
      .describe(
        'Where pipeline progress is kept: tables in the synced Cassandra (keyspace), in the PostgreSQL database (schema), or a local JSON file. ' +
          'Default: cassandra when a pipeline reads Cassandra, else postgres.',
      ),
    keyspace: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).default('cesync').describe('Keyspace of the state tables (store: cassandra), or schema of them (store: postgres).'),
    replication: z
      .record(z.string(), z.union([z.string(), z.number()]))
      .default({ class: 'SimpleStrategy', replication_factor: 1 })
      .describe('Replication of that keyspace when cesync creates it.'),
    path: z.string().default('cesync-state.json').describe('State file (store: file).'),
  })
  .describe('The state store: one entry per pipeline (progress, last run).');

const apiSchema = z
  .strictObject({
    key: z.string().min(16, 'at least 16 characters').optional().describe('Bearer key of the HTTP API; or CESYNC_API_KEY.'),
    maxIds: z.number().int().min(1).max(100_000).default(1000).describe('Most objectIds accepted in one request.'),
  })
  .describe('The HTTP API of `cesync serve`.');

/** How a text value is converted (docs/shaping.md). */
const parseSchema = z
  .union(
    [
      z.enum(['json', 'date', 'number', 'integer', 'boolean']),
      z.strictObject({
        date: z.string().min(1).describe('A Luxon format of the text, e.g. "yyyy-MM-dd HH:mm:ss:SSSZZZ".'),
        zone: z.string().min(1).default('UTC').describe('Time zone of texts without an offset (IANA name, or UTC).'),
      }),
      z.strictObject({ split: z.string().min(1).describe('Separator: "a, b" becomes ["a", "b"].') }),
    ],
    { error: 'expected json, date, number, integer, boolean, { date: FORMAT, zone } or { split: SEPARATOR }' },
  )
  .describe('Converts text (each element of a list, each value of a map): json, date (ISO 8601), number, integer, boolean, { date: FORMAT, zone }, { split: SEPARATOR }.');

const fieldShapeSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe('Field name in documents (default: the column name).'),
    parse: parseSchema.optional(),
    default: z.unknown().optional().describe('Value written when the column is null (after parse).'),
  })
  .refine((f) => f.parse !== undefined || f.default !== undefined || f.name !== undefined, { message: 'give name, parse or default' });

const fieldsSchema = z.record(
  z.string(),
  z.union([z.string().min(1), z.null(), fieldShapeSchema], { error: 'expected a field name, null, or { name, parse, default }' }),
);

/** `{ column: column }` or `{ column: name }`: at least one entry. */
const columnMap = (value: z.ZodString) => z.record(z.string(), value).refine((m) => Object.keys(m).length > 0, { message: 'give at least one column' });

/** A table whose row, found by a key, adds some of its columns to each nested row (docs/shaping.md). */
const lookupSchema = z
  .strictObject({
    keyspace: identifier.optional().describe('Keyspace of the table (default: that of the rows it is added to).'),
    table: identifier.describe('The looked-up table.'),
    match: columnMap(z.string()).describe("{ lookupColumn: column }: the looked-up table's whole primary key, by columns of the row it is added to."),
    fields: columnMap(z.string().min(1)).describe('{ column: fieldName }: the columns of the looked-up row added, under these names.'),
  })
  .describe('A lookup: columns of another row added to each nested row.');

const nestSchema = z
  .strictObject({
    field: z.string().min(1).describe('Field of the document that holds the list of nested rows.'),
    keyspace: identifier.optional().describe("Keyspace of the table (default: the pipeline's)."),
    table: identifier.describe('The table whose rows are nested.'),
    match: columnMap(z.string()).describe("{ childColumn: parentColumn }: the nested table's partition key, by the pipeline table's primary key columns."),
    where: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
      .optional()
      .describe('{ column: value }: only rows with these values are nested (others still count for the version).'),
    fields: fieldsSchema.optional().describe("The nested rows' fields, as a pipeline's fields (renames, left out, parse, default)."),
    lookups: z.array(lookupSchema).default([]).describe("Columns of other rows added to each nested row (keyspace default: the nested table's)."),
    maxRows: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(1000)
      .describe('Most rows nested in one document; a document with more goes to the failure ledger (never cut).'),
  })
  .describe('Rows of another table nested into each document, found by its key.');

/** An Elasticsearch index name; with tables, `{table}` in it stands for each table's name in lower case. */
const INDEX_TEMPLATE = /^(?:[a-z0-9]|\{table\})(?:[a-z0-9_.+-]|\{table\})*$/;

/** A table name or a glob of table names, matched case-sensitively (as Cassandra stores the names). */
const tableGlob = z
  .string()
  .regex(/^[A-Za-z0-9_*?]+$/, 'a table name or a glob of table names: letters, digits and "_", with * (any characters) and ? (one character)');

/** Which tables of the keyspace a `tables` pipeline syncs. */
const tablesSchema = z
  .union(
    [
      tableGlob,
      z.strictObject({
        include: z.array(tableGlob).min(1).default(['*']).describe('Globs of the tables synced (default: every table of the keyspace).'),
        exclude: z.array(tableGlob).default([]).describe('Globs of the tables left out, even when included.'),
      }),
    ],
    { error: 'expected a glob of table names, or { include: [GLOB...], exclude: [GLOB...] }' },
  )
  .describe(
    'Instead of table: every table of the keyspace that matches a glob (* any characters, ? one; case-sensitive), or { include: [globs], exclude: [globs] }, ' +
      "each into its own index (index holds {table}) as a pipeline named NAME.TABLE. cesync's own state tables are never included.",
  );

/** What a PostgreSQL pipeline indexes as pending, and clears once indexed (docs/postgres.md). */
const pendingSchema = z
  .union(
    [
      z.strictObject({
        flag: identifier.describe(
          'A boolean column: a row whose flag is false (or null) is pending; cesync indexes it and sets the flag true once Elasticsearch acknowledged that row, only if the row did not change meanwhile.',
        ),
        batchSize: z.number().int().min(1).max(100_000).default(1000).describe('Pending rows taken per batch.'),
      }),
      z.strictObject({
        queue: z
          .strictObject({
            table: identifier.optional().describe("The queue table (default: the pipeline's table name + _cesync_queue)."),
            schema: identifier.optional().describe("Its schema (default: the pipeline's)."),
            id: identifier.default('seq').describe('Its ordered id column (bigserial): entries are taken in this order and deleted by it once done.'),
            match: columnMap(z.string())
              .optional()
              .describe("{ tableKeyColumn: queueColumn }: the queue's columns that name a row's primary key (default: the same names)."),
          })
          .describe('A table of keys to sync, filled by a trigger (cesync sync --create-queue makes one that also carries deletes) or by the application.'),
        batchSize: z.number().int().min(1).max(100_000).default(1000).describe('Queue entries taken per batch.'),
      }),
    ],
    { error: 'expected { flag: COLUMN } or { queue: { table, id, match } }' },
  )
  .describe('Pending rows (PostgreSQL): a flag column or a queue table; incremental syncs and watch index what is pending and clear it once indexed.');

const pipelineObject = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-"')
      .describe('Name of the pipeline, used by --pipeline and in state and reports.'),
    source: z.enum(['cassandra', 'postgres']).default('cassandra').describe('The store the table is in: cassandra (keyspace, table) or postgres (schema, table).'),
    keyspace: identifier.optional().describe('Cassandra keyspace (source: cassandra).'),
    schema: identifier.optional().describe('PostgreSQL schema (source: postgres; default public).'),
    pending: pendingSchema.optional(),
    filter: z
      .string()
      .min(1)
      .optional()
      .describe(
        "PostgreSQL: an SQL condition on the table's columns (e.g. case_type_id = 'Benefit'); only rows that meet it belong to this pipeline and its index " +
          '(one index per case type from one table). A row that stops meeting it has its document deleted by the next repair or pending sync.',
      ),
    alias: z
      .boolean()
      .default(false)
      .describe('index is an alias: when it is missing, cesync creates the index <index>-000001 behind it (with the mapping), as for a later rebuild behind the alias.'),
    table: identifier.optional().describe('Cassandra table (or tables: every table that matches).'),
    tables: tablesSchema.optional(),
    index: z
      .string()
      .regex(INDEX_TEMPLATE, 'a lower-case Elasticsearch index name (with tables: one holding {table}, e.g. sunbird_{table})')
      .describe("Target index (or alias) in Elasticsearch. With tables, a name holding {table}, which is replaced by each table's name in lower case (e.g. sunbird_{table})."),
    version: z
      .union(
        [
          z.literal('writetime'),
          z.strictObject({ column: identifier.describe('A timestamp or bigint (microseconds) column every writer sets.') }),
        ],
        { error: 'expected writetime or { column: NAME }' },
      )
      .default('writetime')
      .describe('Where a row version comes from: the newest WRITETIME of its cells, or a column.'),
    id: z
      .strictObject({
        format: z
          .enum(['delimited', 'json'])
          .default('delimited')
          .describe('delimited: key parts joined by the separator; json: a JSON array of the key parts.'),
        separator: z.string().length(1).default(':').describe('Separator of key parts (delimited format).'),
      })
      .prefault({})
      .describe('How the primary key forms the document _id.'),
    pageSize: z.number().int().min(1).max(100_000).default(1000).describe('Rows per CQL page.'),
    splits: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(64)
      .describe('Number of ranges the table is split into: token ranges in Cassandra (at least one per node range), ranges of the leading key column in PostgreSQL (from its statistics).'),
    rangesInFlight: z.number().int().min(1).max(256).default(2).describe('Token ranges read in parallel.'),
    bulk: z
      .strictObject({
        flushBytes: z.number().int().min(1024).default(2_000_000).describe('Bytes per bulk request.'),
        flushIntervalMs: z.number().int().min(1).default(30_000).describe('Flush a partial bulk after this long.'),
        concurrency: z.number().int().min(1).max(64).default(2).describe('Bulk requests in flight.'),
      })
      .prefault({})
      .describe('Bulk request tuning.'),
    indexSettings: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('Settings used only when cesync creates the index (e.g. number_of_shards).'),
    throttle: throttleSchema.optional(),
    fields: fieldsSchema
      .optional()
      .describe(
        'Field mapping and shaping (docs/shaping.md). { column: fieldName } renames a column in documents, { column: null } leaves it out (not read, not written back); ' +
          '{ column: { name, parse, default } } also converts its text (parse; a list element by element, a map value by value) or fills it when null (default).',
      ),
    nest: z
      .array(nestSchema)
      .default([])
      .superRefine((ns, ctx) => {
        const seen = new Set<string>();
        ns.forEach((n, i) => {
          if (seen.has(n.field)) ctx.addIssue({ code: 'custom', path: [i, 'field'], message: `two nested lists cannot both be the field ${n.field}` });
          seen.add(n.field);
        });
      })
      .describe('Rows of other tables nested into each document: composed documents (docs/shaping.md).'),
    lookups: z
      .array(lookupSchema)
      .default([])
      .describe("Columns of other rows added to each document, found by the document's own columns (e.g. the name of its organisation)."),
    transform: z
      .strictObject({
        module: z
          .string()
          .min(1)
          .describe('An ES module (path relative to this file) whose default export maps each shaped document to the one written: (document, { id, pipeline }) => document.'),
      })
      .optional()
      .describe('Shaping that no declaration covers, by a function of your own (docs/shaping.md).'),
    direction: z
      .enum(['to-elasticsearch', 'to-cassandra', 'both'])
      .default('to-elasticsearch')
      .describe('Which way changes flow. to-cassandra and both read changed documents by elasticsearchVersionField.'),
    elasticsearchVersionField: z
      .string()
      .min(1)
      .optional()
      .describe('Document field holding the version (microseconds, or a date) that every writer to Elasticsearch sets; default _cesync.version (documents written by cesync).'),
    changeColumn: identifier
      .optional()
      .describe('A timestamp (or bigint of microseconds) column every writer sets: incremental syncs query it through a Storage-Attached Index instead of scanning.'),
    incremental: z
      .strictObject({
        safetyLagMs: z
          .number()
          .int()
          .min(0)
          .default(5000)
          .describe('Changes newer than this are left for the next run (clock skew, writes still landing).'),
        batchSize: z.number().int().min(1).default(1000).describe('Changed rows per batch; the watermark moves after each.'),
      })
      .prefault({})
      .describe('Incremental sync (--since).'),
    reindex: z
      .strictObject({
        keep: z
          .number()
          .int()
          .min(0)
          .default(1)
          .describe('Indices a rebuild replaced that are kept (the newest ones), for cesync reindex --rollback.'),
        keepForMs: z
          .number()
          .int()
          .min(0)
          .default(0)
          .describe('A replaced index beyond keep is deleted only once it stopped serving at least this long ago (milliseconds).'),
      })
      .prefault({})
      .describe('cesync reindex: what is kept of the indices behind the alias that a rebuild replaced.'),
  });

/** The settings of a pipeline that a `byTable` entry can give again, for some of its tables. */
const TABLE_SETTINGS = ['fields', 'nest', 'lookups', 'transform', 'version', 'changeColumn', 'id', 'indexSettings', 'pageSize', 'splits', 'throttle', 'incremental', 'bulk'] as const;
type TableSettingSchemas = Pick<typeof pipelineObject.shape, (typeof TABLE_SETTINGS)[number]>;

/**
 * A setting of the pipeline as a `byTable` entry takes it: the same schema with its checks, but
 * without its default (a setting an entry leaves out keeps the pipeline's).
 */
function overriding<S extends z.ZodType>(setting: S): z.ZodOptional<z.ZodType<z.output<S>>> {
  let inner: z.ZodType = setting;
  const checks: z.core.$ZodCheck<unknown>[] = [];
  let description = setting.description;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodPrefault || inner instanceof z.ZodOptional) {
    checks.push(...((inner._zod.def.checks ?? []) as z.core.$ZodCheck<unknown>[]));
    inner = inner.unwrap() as z.ZodType;
    description ??= inner.description;
  }
  const checked = checks.length > 0 ? inner.check(...checks) : inner;
  return checked.optional().describe(description ?? '') as z.ZodOptional<z.ZodType<z.output<S>>>;
}

const byTableSchema = z
  .strictObject({
    tables: tableGlob.describe('The tables these settings are for: a table name or a glob (* any characters, ? one), matched case-sensitively.'),
    ...(Object.fromEntries(TABLE_SETTINGS.map((key) => [key, overriding(pipelineObject.shape[key])])) as { [K in keyof TableSettingSchemas]: z.ZodOptional<z.ZodType<z.output<TableSettingSchemas[K]>>> }),
  })
  .refine((e) => TABLE_SETTINGS.some((key) => e[key] !== undefined), {
    message: `give tables and at least one setting: ${TABLE_SETTINGS.join(', ')}`,
    // Not as well when a key is unknown (a mistyped setting): that issue says it.
    when: (payload) => payload.issues.length === 0,
  })
  .describe("Settings for the tables that match a glob: each replaces the pipeline's (objects whole, not merged); of several matching entries, the later wins.");

export const pipelineSchema = pipelineObject
  .extend({
    byTable: z
      .array(byTableSchema)
      .optional()
      .describe(`With tables: settings by table, in order (later entries win). Each is { tables: GLOB } and any of ${TABLE_SETTINGS.join(', ')}.`),
  })
  .superRefine((p, ctx) => {
    // One table, or every table matching a glob, each into its own index.
    const issue = (path: PropertyKey[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (p.source === 'postgres') {
      postgresIssues(p).forEach(([path, message]) => issue(path, message));
      return;
    }
    if (p.keyspace === undefined) return issue(['keyspace'], 'give the keyspace of the table (source: cassandra)');
    if (p.schema !== undefined) issue(['schema'], 'schema names a PostgreSQL schema: give source: postgres, or keyspace for a Cassandra table');
    if (p.filter !== undefined) issue(['filter'], 'filter (an SQL condition) is for source: postgres');
    if (p.pending !== undefined) issue(['pending'], 'pending (a flag column or a queue table) is for source: postgres; Cassandra pipelines find changes by write time');
    if (p.table === undefined && p.tables === undefined) return issue([], 'give table (one table) or tables (every table of the keyspace that matches a glob)');
    if (p.table !== undefined && p.tables !== undefined) return issue(['tables'], 'give table or tables, not both');
    const templated = p.index.includes('{table}');
    if (p.tables !== undefined && !templated) issue(['index'], 'with tables, index must hold {table} (e.g. sunbird_{table}): each table is synced into its own index');
    if (p.table !== undefined && templated) issue(['index'], '{table} in index goes with tables; with table, give the index itself');
    if (p.byTable !== undefined && p.tables === undefined) issue(['byTable'], 'byTable goes with tables: it gives settings to some of the tables of a tables pipeline');
    // A composed document's version is the newest write time of its parts: a version column of
    // the application's own would be mixed with write times of other tables.
    const composes = (x: { nest?: readonly unknown[]; lookups?: readonly unknown[] }) => (x.nest ?? []).length > 0 || (x.lookups ?? []).length > 0;
    if (typeof p.version === 'object' && composes(p)) issue(['version'], 'a composed document (nest, lookups) takes its version from the write times of its parts: give version: writetime');
    p.byTable?.forEach((b, i) => {
      if (typeof (b.version ?? p.version) === 'object' && (composes(b) || (b.nest === undefined && b.lookups === undefined && composes(p)))) {
        issue(['byTable', i, 'version'], 'a composed document (nest, lookups) takes its version from the write times of its parts: give version: writetime');
      }
    });
    // The way back turns documents into rows: only renames and left-out fields can be undone.
    if (p.direction === 'to-elasticsearch') return;
    const why = irreversibleShaping(p);
    if (why) ctx.addIssue({ code: 'custom', path: why.path, message: `direction ${p.direction} writes documents back as rows, but ${why.what} cannot be undone; only renames and left-out fields can (docs/shaping.md)` });
    p.byTable?.forEach((b, i) => {
      const inEntry = irreversibleShaping(b);
      if (inEntry) issue(['byTable', i, ...inEntry.path], `direction ${p.direction} writes documents back as rows, but ${inEntry.what} cannot be undone; only renames and left-out fields can (docs/shaping.md)`);
    });
  })
  .transform(({ schema, ...p }) => ({ ...p, keyspace: p.keyspace ?? schema ?? 'public' }))
  .describe('One table-to-index sync (table), or one per table of a keyspace (tables).');

/** What a PostgreSQL pipeline cannot have (yet, or ever): [path, message] of each. */
function postgresIssues(p: z.output<typeof pipelineObject> & { byTable?: unknown }): [PropertyKey[], string][] {
  const out: [PropertyKey[], string][] = [];
  if (p.keyspace !== undefined) out.push([['keyspace'], 'a PostgreSQL table is named by schema (default public) and table, not keyspace']);
  if (p.table === undefined && p.tables === undefined) out.push([[], 'give table: the PostgreSQL table of this pipeline']);
  if (p.index.includes('{table}')) out.push([['index'], '{table} in index goes with tables (Cassandra keyspaces); give the index itself']);
  if (p.byTable !== undefined) out.push([['byTable'], 'byTable goes with tables (Cassandra keyspaces)']);
  if (p.version === 'writetime') out.push([['version'], 'a PostgreSQL row has no write time: give version: { column: NAME }, a timestamp or integer column every writer sets (e.g. last_modified)']);
  if (p.tables !== undefined) out.push([['tables'], 'tables (every table matching a glob) is for Cassandra keyspaces; give each PostgreSQL table its own pipeline']);
  if (p.nest.length > 0) out.push([['nest'], 'nest (composed documents) reads Cassandra tables; it is not available for source: postgres']);
  if (p.lookups.length > 0) out.push([['lookups'], 'lookups read Cassandra tables; they are not available for source: postgres']);
  if (p.filter !== undefined && p.pending !== undefined && 'queue' in p.pending) {
    out.push([['filter'], 'a queue table serves one pipeline (each entry is taken and removed by the pipeline that reads it); with filter, use pending: { flag } or no pending']);
  }
  if (p.direction !== 'to-elasticsearch') out.push([['direction'], 'a PostgreSQL pipeline syncs to Elasticsearch only (direction: to-elasticsearch)']);
  return out;
}

/** The first part of a pipeline's shaping that the way back could not undo, if any. */
function irreversibleShaping(p: { fields?: Record<string, unknown>; transform?: unknown; nest?: readonly unknown[]; lookups?: readonly unknown[] }): { path: PropertyKey[]; what: string } | undefined {
  if (p.transform !== undefined) return { path: ['transform'], what: 'a transform module' };
  if ((p.nest ?? []).length > 0) return { path: ['nest'], what: 'a composed document (nested rows of other tables)' };
  if ((p.lookups ?? []).length > 0) return { path: ['lookups'], what: 'a composed document (columns of looked-up rows)' };
  for (const [column, f] of Object.entries(p.fields ?? {})) {
    if (f === null || typeof f !== 'object') continue;
    const s = f as { parse?: unknown; default?: unknown };
    if (s.parse !== undefined) return { path: ['fields', column, 'parse'], what: `parse of ${column}` };
    if (s.default !== undefined) return { path: ['fields', column, 'default'], what: `the default of ${column}` };
  }
  return undefined;
}

/**
 * The entries of `pipelines`, typed as pipelines of one table: what every command runs once each
 * `tables` entry is replaced by its tables' pipelines (src/sync/expand-pipelines.ts, when a
 * command connects). Until then such an entry has `tables` and no `table`.
 */
const pipelineEntrySchema = pipelineSchema as unknown as z.ZodType<PipelineConfig, z.input<typeof pipelineSchema>>;

export const configSchema = z
  .strictObject({
    cassandra: cassandraSchema.prefault({}),
    postgres: postgresSchema.optional(),
    elasticsearch: elasticsearchSchema.prefault({}),
    opensearch: opensearchSchema.optional(),
    pipelines: z
      .array(pipelineEntrySchema)
      .min(1, 'give at least one pipeline (name, keyspace, table, index)')
      .superRefine((ps, ctx) => {
        // Named where it is: --pipeline, the state and the API pick pipelines by name.
        const first = new Map<string, number>();
        ps.forEach((p, i) => {
          const seen = first.get(p.name);
          if (seen === undefined) first.set(p.name, i);
          else ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `pipeline names must be unique: "${p.name}" is also the name of pipelines.${seen}` });
        });
      })
      .describe('The pipelines of this configuration.'),
    failureLedger: z
      .string()
      .default('cesync-failures.ndjson')
      .describe('NDJSON file that failed documents are appended to.'),
    maxChanges: z
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe('A targeted sync or repair that would change more documents stops before writing (--yes goes on).'),
    state: stateSchema.prefault({}),
    watch: z
      .strictObject({
        intervalMs: z.number().int().min(10).default(1000).describe('Pause between rounds when nothing was pending.'),
        leaseTtlMs: z
          .number()
          .int()
          .min(1000)
          .default(30_000)
          .describe("A watcher's lease on its pipelines; a dead watcher's lease expires after this."),
      })
      .prefault({})
      .describe('cesync watch.'),
    api: apiSchema.prefault({}),
    kafka: kafkaSchema.prefault({}),
    consumers: z
      .array(consumerSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Map<string, number>();
        list.forEach((c, i) => {
          const other = seen.get(c.name);
          if (other !== undefined) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `consumer names must be unique: "${c.name}" is also the name of consumers.${other}` });
          else seen.set(c.name, i);
        });
      })
      .describe('Topics `cesync consume` reads, each with the handler that applies its events (docs/events.md).'),
  })
  .superRefine((c, ctx) => {
    sharedPending(c.pipelines).forEach(([i, message]) => ctx.addIssue({ code: 'custom', path: ['pipelines', i, 'pending'], message }));
    if (c.opensearch?.apiKey) ctx.addIssue({ code: 'custom', path: ['opensearch', 'apiKey'], message: 'OpenSearch takes username and password (its security plugin has no Elasticsearch API keys)' });
    if (c.postgres !== undefined) return;
    c.pipelines.forEach((p, i) => {
      if (p.source === 'postgres') ctx.addIssue({ code: 'custom', path: ['pipelines', i, 'source'], message: 'source: postgres needs the postgres section (connectionString, or host, database, user, password)' });
    });
    if (c.state.store === 'postgres') ctx.addIssue({ code: 'custom', path: ['state', 'store'], message: 'state.store: postgres needs the postgres section' });
  })
  // The search cluster the indices are in: the opensearch section when there is one, else the
  // elasticsearch section (with its defaults). load.ts refuses a configuration that has both.
  .transform((c) => ({ ...c, target: c.opensearch ? { product: 'opensearch' as const, ...c.opensearch } : { product: 'elasticsearch' as const, ...c.elasticsearch } }))
  .describe('cesync configuration.');

/**
 * Pipelines that would take each other's pending rows: the first to run marks a flag (or removes
 * a queue entry) and the other never sees the row. A flag may be shared by pipelines that all have
 * a filter (each takes only its own rows: the filters must not overlap); a queue never.
 */
function sharedPending(pipelines: readonly PipelineConfig[]): [number, string][] {
  const out: [number, string][] = [];
  const seen = new Map<string, { index: number; filtered: boolean }>();
  pipelines.forEach((p, i) => {
    if (p.source !== 'postgres' || !p.pending) return;
    // Names as PostgreSQL resolves them: "Quoted" exactly, unquoted folded to lower case.
    const n = (name: string) => (name.startsWith('"') && name.endsWith('"') ? name.slice(1, -1) : name.toLowerCase());
    const table = `${n(p.keyspace)}.${n(p.table)}`;
    const key = 'flag' in p.pending ? `flag ${table}.${n(p.pending.flag)}` : `queue ${n(p.pending.queue.schema ?? p.keyspace)}.${p.pending.queue.table ? n(p.pending.queue.table) : `${n(p.table)}_cesync_queue`.slice(0, 63)}`;
    const other = seen.get(key);
    const filtered = p.filter !== undefined;
    if (other && (key.startsWith('queue') || !filtered || !other.filtered)) {
      out.push([
        i,
        key.startsWith('queue')
          ? `pipelines.${other.index} takes its entries from the same queue table: a queue serves one pipeline (the first to take an entry removes it)`
          : `pipelines.${other.index} marks the same flag of ${table}: the first to run would mark the rows and the other never see them; give each a filter of its own rows (not overlapping), or use one pipeline`,
      ]);
    } else seen.set(key, { index: i, filtered });
  });
  return out;
}

/** The state store a configuration uses: as configured, else Cassandra's when a pipeline reads Cassandra, else PostgreSQL's. */
export function stateStoreKind(config: Pick<Config, 'state' | 'pipelines' | 'postgres'>): 'cassandra' | 'postgres' | 'file' {
  if (config.state.store !== undefined) return config.state.store;
  return config.pipelines.some((p) => p.source === 'cassandra') || config.postgres === undefined ? 'cassandra' : 'postgres';
}

export type Config = z.infer<typeof configSchema>;
export type CassandraConfig = z.infer<typeof cassandraSchema>;
export type ElasticsearchConfig = z.infer<typeof elasticsearchSchema>;
/** The search cluster of a configuration (elasticsearch or opensearch section) and which product it is. */
export type TargetConfig = ElasticsearchConfig & { readonly product: 'elasticsearch' | 'opensearch' };
/**
 * A pipeline of one table. A `tables` entry of the configuration (no `table`, a `tables`
 * selection, maybe `byTable`) is typed so too, but is only run after expandPipelines has made
 * it one such pipeline per table (without `tables` and `byTable`).
 */
export type PipelineConfig = Omit<z.infer<typeof pipelineSchema>, 'table'> & { table: string };
export type TablesConfig = z.infer<typeof tablesSchema>;
export type ByTableConfig = z.infer<typeof byTableSchema>;
export type TlsConfig = z.infer<typeof tlsSchema>;
export type PostgresConfig = z.infer<typeof postgresSchema>;
export type PendingConfig = z.infer<typeof pendingSchema>;
export type FieldShapeConfig = z.infer<typeof fieldShapeSchema>;
export type ParseConfig = z.infer<typeof parseSchema>;
export type NestConfig = z.infer<typeof nestSchema>;
export type FieldsConfig = z.infer<typeof fieldsSchema>;
export type LookupConfig = z.infer<typeof lookupSchema>;

/** The JSON Schema of the configuration, for editors (YAML language servers read it). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}

/** What `knownKeysAt` reads of a zod schema's definition. */
interface SchemaDef {
  readonly type: string;
  readonly innerType?: Walkable;
  readonly in?: Walkable;
  readonly shape?: Readonly<Record<string, Walkable>>;
  readonly element?: Walkable;
  readonly options?: readonly Walkable[];
}
interface Walkable {
  readonly _zod: { readonly def: SchemaDef };
}

/** The keys an object of the configuration takes at `path` (a path of a validation issue), for messages. */
export function knownKeysAt(path: readonly PropertyKey[]): string[] {
  // Defaults, optionals and pipes wrap the schema that has the keys.
  const unwrap = (s: Walkable): Walkable => {
    let at = s;
    for (let d = at._zod.def; d.innerType ?? (d.type === 'pipe' ? d.in : undefined); d = at._zod.def) at = (d.innerType ?? d.in)!;
    return at;
  };
  const objectOf = (s: Walkable): Walkable | undefined => {
    const d = s._zod.def;
    if (d.type === 'object') return s;
    if (d.type === 'union') return d.options?.map(unwrap).find((o) => o._zod.def.type === 'object');
    return undefined;
  };
  let at: Walkable = unwrap(configSchema as unknown as Walkable);
  for (const step of path) {
    const next: Walkable | undefined = typeof step === 'number' ? (at._zod.def.type === 'array' ? at._zod.def.element : undefined) : objectOf(at)?._zod.def.shape?.[String(step)];
    if (!next) return [];
    at = unwrap(next);
  }
  return Object.keys(objectOf(at)?._zod.def.shape ?? {});
}
