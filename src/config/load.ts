/**
 * Loading the configuration: YAML file, then `${ENV}` substitution inside string values, then
 * environment variables, then flags; validated once and frozen. This is the only module that
 * reads `process.env` (it is passed in, so tests give their own).
 *
 * Precedence, highest first: flags > CESYNC_* environment variables > file > defaults.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { LineCounter, parse as parseYaml, YAMLError } from 'yaml';
import type { z } from 'zod';
import { CesyncError } from '../errors.js';
import { configSchema, knownKeysAt, type Config } from './schema.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Overrides from the command line; each applies on top of file and environment. */
export interface ConfigOverrides {
  cassandraContactPoints?: string[];
  elasticsearchNode?: string;
  /** Applied to every pipeline. */
  pipeline?: { pageSize?: number; splits?: number; rangesInFlight?: number };
}

/** Resolve the config path: `--config`, else `CESYNC_CONFIG`. */
export function configPath(flag: string | undefined, env: Env): string {
  const path = flag ?? env.CESYNC_CONFIG;
  if (!path) throw new CesyncError('CONFIG_NOT_FOUND', 'no configuration: pass --config FILE or set CESYNC_CONFIG');
  return path;
}

export async function loadConfig(path: string, env: Env, overrides: ConfigOverrides = {}): Promise<Readonly<Config>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CesyncError('CONFIG_NOT_FOUND', `cannot read configuration ${path}: ${(cause as Error).message}`, { cause });
  }
  let raw: unknown;
  const lines = new LineCounter();
  try {
    // No pretty errors: they quote the offending source lines, which may hold a literal password.
    // Merge keys (`<<: *anchor`) let pipelines share settings, as in examples/ccd.yaml.
    raw = parseYaml(text, { prettyErrors: false, lineCounter: lines, merge: true });
  } catch (cause) {
    throw new CesyncError('CONFIG_INVALID', `${path} is not valid YAML: ${yamlErrorText(cause, text, lines)}`, { cause });
  }
  return parseConfig(raw, env, overrides, path, dirname(resolve(path)));
}

/**
 * A YAML syntax error as line, column and the key of that line, never the line's text (a
 * secret written in the file must not reach the terminal or a log).
 */
function yamlErrorText(error: unknown, text: string, lines: LineCounter): string {
  if (!(error instanceof YAMLError) || error.pos[0] < 0) return (error as Error).message;
  const { line, col } = lines.linePos(error.pos[0]);
  const source = text.split(/\r?\n/)[line - 1] ?? '';
  const key = /^\s*(?:-\s+)?["']?([A-Za-z_$][\w$.-]*)["']?\s*:/.exec(source)?.[1];
  return `${error.message} (line ${line}, column ${col}${key ? `, near the key ${JSON.stringify(key)}` : ''})`;
}

/** Validate an already-parsed document (exposed for tests and for callers that build config in code). */
/**
 * `baseDir`: where relative paths of the configuration that name code of the user's (a transform
 * module) are resolved: the directory of the configuration file, default the working directory.
 */
export function parseConfig(raw: unknown, env: Env, overrides: ConfigOverrides = {}, origin = 'configuration', baseDir = process.cwd()): Readonly<Config> {
  let substituted: unknown;
  try {
    substituted = substituteEnv(raw ?? {}, env, []);
  } catch (e) {
    if (e instanceof CesyncError) throw new CesyncError(e.code, `${origin}: ${e.message}`, { cause: e });
    throw e;
  }
  const both = substituted && typeof substituted === 'object' && 'elasticsearch' in substituted && 'opensearch' in substituted;
  if (both) throw new CesyncError('CONFIG_INVALID', `${origin} is invalid:\n  opensearch: give one search cluster, elasticsearch or opensearch, not both`);
  const layered = applyEnvAndFlags(substituted, env, overrides);
  const result = configSchema.safeParse(layered);
  if (!result.success) {
    throw new CesyncError('CONFIG_INVALID', `${origin} is invalid:\n${formatIssues(result.error)}`);
  }
  for (const p of result.data.pipelines) {
    if (p.transform) p.transform.module = resolve(baseDir, p.transform.module);
    for (const b of p.byTable ?? []) if (b.transform) b.transform.module = resolve(baseDir, b.transform.module);
  }
  return deepFreeze(result.data);
}

/**
 * `${NAME}` and `${NAME:-default}` inside string values. Substituting after parsing (not in the
 * raw text) means a secret containing YAML syntax cannot change the document's structure.
 */
function substituteEnv(value: unknown, env: Env, path: (string | number)[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      throw new CesyncError(
        'CONFIG_INVALID',
        `${path.join('.') || 'configuration'}: environment variable ${name} is ${v === '' ? 'empty' : 'not set'} (referenced as \${${name}})`,
      );
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k])]));
  }
  return value;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? { ...(v as Obj) } : {});

function applyEnvAndFlags(raw: unknown, env: Env, o: ConfigOverrides): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw; // let the schema report it
  const root = { ...(raw as Obj) };
  const cassandra = asObj(root.cassandra);
  // The CESYNC_ES_* variables and --elasticsearch-node set the search cluster's section, whichever it is.
  const targetKey = root.opensearch !== undefined ? 'opensearch' : 'elasticsearch';
  const es = asObj(root[targetKey]);
  const setIf = (target: Obj, key: string, v: unknown) => {
    if (v !== undefined && v !== '') target[key] = v;
  };
  setIf(cassandra, 'contactPoints', env.CESYNC_CASSANDRA_CONTACT_POINTS?.split(',').map((s) => s.trim()));
  setIf(cassandra, 'localDataCenter', env.CESYNC_CASSANDRA_LOCAL_DC);
  setIf(cassandra, 'username', env.CESYNC_CASSANDRA_USERNAME);
  setIf(cassandra, 'password', env.CESYNC_CASSANDRA_PASSWORD);
  setIf(es, 'node', env.CESYNC_ES_NODE);
  setIf(es, 'apiKey', env.CESYNC_ES_API_KEY);
  setIf(es, 'username', env.CESYNC_ES_USERNAME);
  setIf(es, 'password', env.CESYNC_ES_PASSWORD);
  if (env.CESYNC_API_KEY) root.api = { ...asObj(root.api), key: env.CESYNC_API_KEY };
  setIf(cassandra, 'contactPoints', o.cassandraContactPoints);
  setIf(es, 'node', o.elasticsearchNode);
  if (root.cassandra !== undefined || Object.keys(cassandra).length) root.cassandra = cassandra;
  if (root[targetKey] !== undefined || Object.keys(es).length) root[targetKey] = es;
  if (o.pipeline && Array.isArray(root.pipelines)) {
    const p = Object.fromEntries(Object.entries(o.pipeline).filter(([, v]) => v !== undefined));
    root.pipelines = root.pipelines.map((pl) => (pl && typeof pl === 'object' ? { ...(pl as Obj), ...p } : pl));
  }
  return root;
}

/**
 * One line per problem: the key path, then what was expected (with the likely meant key for an
 * unknown one). Values are never quoted: they may be secrets.
 */
export function formatIssues(error: z.ZodError): string {
  return formatIssueList(error.issues, []);
}

function formatIssueList(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): string {
  return issues
    .map((found) => {
      const issue = { ...found, path: [...prefix, ...found.path] } as z.core.$ZodIssue;
      const where = issue.path.length ? issue.path.join('.') : '(top level)';
      if (issue.code === 'invalid_union') {
        // The alternative the value was meant for: the one that did not refuse its type outright.
        const meant = issue.errors.find((branch) => branch.length > 0 && !branch.some((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')));
        if (meant) return formatIssueList(meant, issue.path);
      }
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeysAt(issue.path);
        const keys = issue.keys.map((k) => {
          const meant = closestKey(k, known);
          return meant ? `"${k}" (did you mean "${meant}"?)` : `"${k}"`;
        });
        return `  - ${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys.join(', ')}${known.length ? ` (known keys: ${known.join(', ')})` : ''}`;
      }
      if (issue.code === 'invalid_type' && issue.expected === 'string' && /received (number|boolean)/.test(issue.message)) {
        return `  - ${where}: ${issue.message} (quote the value in YAML to make it a string)`;
      }
      return `  - ${where}: ${issue.message}`;
    })
    .join('\n');
}

/** The known key a mistyped one most likely meant: same letters in another case, or at most two edits away. */
function closestKey(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const same = known.find((k) => k.toLowerCase() === lower);
  if (same) return same;
  let best: { key: string; distance: number } | undefined;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= Math.min(2, Math.floor(k.length / 3)) && (!best || d < best.distance)) best = { key: k, distance: d };
  }
  return best?.key;
}

/** Edits (insert, delete, replace, swap of neighbours) from `a` to `b`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
