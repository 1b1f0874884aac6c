/**
 * `tables` pipelines made concrete. A pipeline entry with `tables` (a glob, or include and exclude
 * globs) stands for every matching table of its keyspace, each synced into its own index; which
 * tables those are is only known from Cassandra, so every command that connects expands the
 * configuration right after connecting, before it selects pipelines:
 *
 *   name: sb, keyspace: sunbird, tables: { include: ['*'], exclude: ['*_tmp'] }, index: 'sunbird_{table}'
 *
 * becomes the pipelines sb.course (index sunbird_course), sb.user (sunbird_user), ..., in the
 * place of the entry, sorted by table name. Each gets the entry's settings, then those of every
 * `byTable` entry whose glob matches the table, in order (a later entry wins; objects are
 * replaced whole). `config check` and `config print` do not connect and keep the entries as written.
 */
import { normaliseIdentifier } from '../cassandra/table-schema.js';
import { cassandraError } from '../cassandra/client.js';
import { stateStoreKind, type ByTableConfig, type Config, type PipelineConfig, type TablesConfig } from '../config/schema.js';
import { CesyncError } from '../errors.js';
import { cassandraOf, type Stores } from './stores.js';

/** A configuration whose `tables` entries are replaced by one pipeline per table. */
export type ExpandedConfig = Readonly<Config> & {
  /** Each `tables` entry's name, with the names of its tables' pipelines (for --pipeline NAME). */
  readonly tableGroups: ReadonlyMap<string, readonly string[]>;
};

/** The tables of the Cassandra state store (src/state/cassandra-state-store.ts): never synced. */
const STATE_TABLES: readonly string[] = ['pipeline_state', 'watermarks', 'leases', 'verifies'];

export async function expandPipelines(config: Readonly<Config>, stores: Pick<Stores, 'cassandra' | 'cassandraWhere'>): Promise<ExpandedConfig> {
  const tableGroups = new Map<string, readonly string[]>();
  if (!config.pipelines.some((p) => p.tables !== undefined)) return Object.freeze({ ...config, tableGroups });
  const keyspaces = new Map<string, Promise<readonly string[] | undefined>>();
  const pipelines: PipelineConfig[] = [];
  for (const entry of config.pipelines) {
    if (entry.tables === undefined) {
      pipelines.push(entry);
      continue;
    }
    const keyspace = normaliseIdentifier(entry.keyspace);
    if (!keyspaces.has(keyspace)) keyspaces.set(keyspace, tablesOf(stores, keyspace));
    const all = await keyspaces.get(keyspace)!;
    if (!all) throw new CesyncError('SCHEMA_MISMATCH', `pipeline ${entry.name}: keyspace ${keyspace} does not exist${await keyspaceList(stores)}`);
    // cesync's own state, when it is kept in this keyspace, is not a table to sync.
    const own = stateStoreKind(config) === 'cassandra' && config.state.keyspace === keyspace ? STATE_TABLES : [];
    const tables = selectTables(entry.name, keyspace, entry.tables, all.filter((t) => !own.includes(t)), own.some((t) => all.includes(t)));
    const expanded = tables.map((table) => tablePipeline(entry, table));
    checkByTable(entry.name, entry.byTable ?? [], tables);
    checkIndices(entry.name, expanded);
    pipelines.push(...expanded);
    tableGroups.set(entry.name, expanded.map((p) => p.name));
  }
  checkNames(pipelines, tableGroups);
  return Object.freeze({ ...config, pipelines: Object.freeze(pipelines) as PipelineConfig[], tableGroups });
}

/** The table names of a keyspace (sorted), or undefined when there is no such keyspace. */
async function tablesOf(stores: Pick<Stores, 'cassandra' | 'cassandraWhere'>, keyspace: string): Promise<readonly string[] | undefined> {
  try {
    const ks = await cassandraOf(stores).execute('SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace], { prepare: true });
    if (ks.rowLength === 0) return undefined;
    const names: string[] = [];
    let pageState: string | undefined;
    do {
      const rs = await cassandraOf(stores).execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [keyspace], { prepare: true, fetchSize: 1000, pageState });
      for (const row of rs.rows) names.push(row['table_name'] as string);
      pageState = rs.pageState ?? undefined;
    } while (pageState);
    return names.sort(byName);
  } catch (e) {
    throw e instanceof CesyncError ? e : cassandraError(e, stores.cassandraWhere);
  }
}

/** " (keyspaces: a, b)": the keyspaces that are not Cassandra's own, for the error of a missing one. */
async function keyspaceList(stores: Pick<Stores, 'cassandra' | 'cassandraWhere'>): Promise<string> {
  try {
    const rs = await cassandraOf(stores).execute('SELECT keyspace_name FROM system_schema.keyspaces', [], { prepare: true });
    const names = rs.rows.map((r) => r['keyspace_name'] as string).filter((k) => k !== 'system' && !k.startsWith('system_')).sort(byName);
    return names.length > 0 ? ` (keyspaces: ${names.join(', ')})` : ' (there is no keyspace but the system ones)';
  } catch {
    return '';
  }
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A glob of table names (`*` any characters, `?` one) as a case-sensitive, anchored pattern. */
export function globPattern(glob: string, flags = ''): RegExp {
  const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, `s${flags}`);
}

/** The include and exclude globs of a `tables` selection. */
export function tableGlobs(tables: TablesConfig): { include: readonly string[]; exclude: readonly string[] } {
  return typeof tables === 'string' ? { include: [tables], exclude: [] } : tables;
}

/** The tables a `tables` selection takes of the keyspace's; each include glob must match one. */
function selectTables(pipeline: string, keyspace: string, tables: TablesConfig, candidates: readonly string[], hasState: boolean): string[] {
  const { include, exclude } = tableGlobs(tables);
  const listed = `${candidates.length > 0 ? `its tables: ${candidates.join(', ')}` : 'it has no tables'}${hasState ? "; cesync's own state tables are never synced" : ''}`;
  for (const glob of include) {
    if (candidates.some((t) => globPattern(glob).test(t))) continue;
    const inOtherCase = candidates.some((t) => globPattern(glob, 'i').test(t)) ? ' (table names are matched case-sensitively)' : '';
    throw new CesyncError('SCHEMA_MISMATCH', `pipeline ${pipeline}: tables: ${glob} matches no table of keyspace ${keyspace}${inOtherCase} (${listed})`);
  }
  const selected = candidates.filter((t) => include.some((g) => globPattern(g).test(t)) && !exclude.some((g) => globPattern(g).test(t)));
  if (selected.length === 0) {
    throw new CesyncError('SCHEMA_MISMATCH', `pipeline ${pipeline}: tables: every table that ${include.join(', ')} matches is excluded by ${exclude.join(', ')} (${listed})`);
  }
  return selected;
}

/** The pipeline of one table of a `tables` entry: the entry's settings, then each matching byTable entry's. */
export function tablePipeline(entry: PipelineConfig, table: string): PipelineConfig {
  return Object.freeze({
    ...withSettings(entry, (entry.byTable ?? []).filter((b) => globPattern(b.tables).test(table))),
    name: `${entry.name}.${table}`,
    // As stored: quoted unless CQL would read the bare name as this table (lower case).
    table: /^[a-z_][a-z0-9_]*$/.test(table) ? table : `"${table}"`,
    index: entry.index.replaceAll('{table}', table.toLowerCase()),
  });
}

/** The entry's settings (without tables and byTable), replaced by those the byTable entries give, in order. */
function withSettings(entry: PipelineConfig, byTable: readonly ByTableConfig[]): PipelineConfig {
  const { tables: _tables, byTable: _byTable, ...settings } = entry;
  const merged: Record<string, unknown> = { ...settings };
  for (const { tables: _glob, ...given } of byTable) {
    for (const [key, value] of Object.entries(given)) if (value !== undefined) merged[key] = value;
  }
  return merged as PipelineConfig;
}

/**
 * For checks that do not connect (`config check`): a `tables` entry's settings as each of its
 * byTable entries gives them, named "NAME byTable.I".
 */
export function byTableSettings(entry: PipelineConfig): PipelineConfig[] {
  return (entry.byTable ?? []).map((b, i) => ({ ...withSettings(entry, [b]), name: `${entry.name} byTable.${i}` }));
}

/** A pipeline entry for lists: its name, and for a `tables` entry which tables it stands for. */
export function describeEntry(entry: PipelineConfig): string {
  if (entry.tables === undefined) return entry.name;
  const { include, exclude } = tableGlobs(entry.tables);
  const except = exclude.length > 0 ? ` except ${exclude.join(', ')}` : '';
  return `${entry.name} (the tables ${include.join(', ')}${except} of keyspace ${normaliseIdentifier(entry.keyspace)}: one pipeline per table, ${entry.name}.TABLE)`;
}

/** Each byTable entry must be for some of the pipeline's tables: one that matches none is a mistake. */
function checkByTable(pipeline: string, byTable: readonly ByTableConfig[], tables: readonly string[]): void {
  byTable.forEach((b, i) => {
    if (tables.some((t) => globPattern(b.tables).test(t))) return;
    throw new CesyncError('SCHEMA_MISMATCH', `pipeline ${pipeline}: byTable.${i}.tables: ${b.tables} matches none of the tables this pipeline syncs (${tables.join(', ')})`);
  });
}

/** Index names must be valid, and two tables (names differing only in case) cannot share one. */
function checkIndices(pipeline: string, expanded: readonly PipelineConfig[]): void {
  const owner = new Map<string, string>();
  for (const p of expanded) {
    if (!/^[a-z0-9][a-z0-9_.+-]*$/.test(p.index)) {
      throw new CesyncError('SCHEMA_MISMATCH', `pipeline ${pipeline}: the index of table ${p.table} would be ${p.index}, which is not a valid Elasticsearch index name (it must start with a letter or digit)`);
    }
    const other = owner.get(p.index);
    if (other !== undefined) {
      throw new CesyncError('SCHEMA_MISMATCH', `pipeline ${pipeline}: tables ${other} and ${p.table} would both be synced into index ${p.index} (index names are lower case); exclude one of them`);
    }
    owner.set(p.index, p.table);
  }
}

/** Names stay unique once the tables' pipelines are named: --pipeline, the state and the API pick by name. */
function checkNames(pipelines: readonly PipelineConfig[], tableGroups: ReadonlyMap<string, readonly string[]>): void {
  const seen = new Set<string>();
  const groupOf = (name: string) => [...tableGroups].find(([, names]) => names.includes(name))?.[0] ?? name;
  for (const p of pipelines) {
    if (seen.has(p.name) || tableGroups.has(p.name)) {
      throw new CesyncError('CONFIG_INVALID', `pipeline ${groupOf(p.name)}: a table's pipeline would be named ${p.name}, which is also the name of another pipeline; rename one of them`);
    }
    seen.add(p.name);
  }
}
