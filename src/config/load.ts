/**
 * Loading the configuration: YAML file, then `${ENV}` substitution inside string values, then
 * environment variables, then flags; validated once and frozen. This is the only module that
 * reads `process.env` (it is passed in, so tests give their own).
 *
 * Precedence, highest first: flags > CESYNC_* environment variables > file > defaults.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { CesyncError } from '../errors.js';
import { configSchema, type Config } from './schema.js';

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
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new CesyncError('CONFIG_INVALID', `${path} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return parseConfig(raw, env, overrides, path);
}

/** Validate an already-parsed document (exposed for tests and for callers that build config in code). */
export function parseConfig(raw: unknown, env: Env, overrides: ConfigOverrides = {}, origin = 'configuration'): Readonly<Config> {
  const substituted = substituteEnv(raw ?? {}, env, []);
  const layered = applyEnvAndFlags(substituted, env, overrides);
  const result = configSchema.safeParse(layered);
  if (!result.success) {
    throw new CesyncError('CONFIG_INVALID', `${origin} is invalid:\n${formatIssues(result.error)}`);
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
        `${path.join('.') || 'configuration'}: environment variable ${name} is not set (referenced as \${${name}})`,
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
  const es = asObj(root.elasticsearch);
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
  if (root.elasticsearch !== undefined || Object.keys(es).length) root.elasticsearch = es;
  if (o.pipeline && Array.isArray(root.pipelines)) {
    const p = Object.fromEntries(Object.entries(o.pipeline).filter(([, v]) => v !== undefined));
    root.pipelines = root.pipelines.map((pl) => (pl && typeof pl === 'object' ? { ...(pl as Obj), ...p } : pl));
  }
  return root;
}

/** One line per problem: the key path, then what was expected. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length ? issue.path.join('.') : '(top level)';
      if (issue.code === 'unrecognized_keys') {
        return `  - ${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `  - ${where}: ${issue.message}`;
    })
    .join('\n');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
