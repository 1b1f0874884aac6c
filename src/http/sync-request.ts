/**
 * The body of `POST /api/data/v1/index/sync`, as Sunbird's Data Sync API takes it:
 *
 *   { "request": { "objectType": "user", "objectIds": ["id1", "id2"] } }
 *
 * `objectType` names a pipeline of the configuration; `objectIds` are document ids of that
 * pipeline (composite keys in its id format), 1 to `api.maxIds` of them. Other keys (Sunbird
 * clients send `id`, `ver`, `params`) are ignored.
 */
import { z } from 'zod';
import type { PipelineConfig } from '../config/schema.js';
import { ApiError } from './api-errors.js';

export interface SyncRequest {
  readonly pipeline: PipelineConfig;
  readonly ids: readonly string[];
}

function bodySchema(maxIds: number) {
  return z.object(
    {
      request: z.object(
        {
          objectType: z.string({ error: 'expected a string (the name of a pipeline)' }).min(1, 'must not be empty'),
          objectIds: z
            .array(
              z.string({ error: 'expected a string id' }).refine((id) => id.trim().length > 0, 'must not be empty'),
              { error: 'expected an array of ids' },
            )
            .min(1, 'give at least one id')
            .max(maxIds, `at most ${maxIds} ids in one request (api.maxIds)`),
        },
        { error: 'expected an object with objectType and objectIds' },
      ),
    },
    { error: 'expected a JSON object {"request":{"objectType":...,"objectIds":[...]}}' },
  );
}

/** Validates a parsed body against the configured pipelines, or throws INVALID_REQUEST. */
export function parseSyncRequest(body: unknown, options: { readonly maxIds: number; readonly pipelines: readonly PipelineConfig[] }): SyncRequest {
  const result = bodySchema(options.maxIds).safeParse(body);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 5).map((issue) => {
      const where = issue.path.length ? issue.path.join('.') : 'body';
      let message = issue.message;
      if (issue.code === 'too_big' && issue.origin === 'array') message += `, got ${(lookup(body, issue.path) as unknown[]).length}`;
      if (issue.code === 'invalid_type') {
        message += `, got ${kindOf(lookup(body, issue.path))}`;
        const meant = issue.path.length > 0 ? misspelt(lookup(body, issue.path.slice(0, -1)), String(issue.path[issue.path.length - 1])) : undefined;
        if (meant !== undefined) message += ` (the body has ${JSON.stringify(meant)}: names are case-sensitive)`;
      }
      return `${where}: ${message}`;
    });
    const more = result.error.issues.length > 5 ? `; and ${result.error.issues.length - 5} more` : '';
    throw new ApiError('INVALID_REQUEST', `${issues.join('; ')}${more}`);
  }
  const { objectType, objectIds } = result.data.request;
  const pipeline = options.pipelines.find((p) => p.name === objectType);
  if (!pipeline) {
    const known = options.pipelines.map((p) => p.name).join(', ');
    const meant = options.pipelines.find((p) => p.name.toLowerCase() === objectType.trim().toLowerCase());
    const hint = meant ? `; did you mean ${JSON.stringify(meant.name)}? objectType is case-sensitive` : '';
    throw new ApiError('INVALID_REQUEST', `request.objectType: unknown objectType ${JSON.stringify(objectType.slice(0, 100))} (known: ${known})${hint}`);
  }
  return { pipeline, ids: objectIds };
}

function lookup(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = v !== null && typeof v === 'object' && Object.hasOwn(v, k) ? (v as Record<PropertyKey, unknown>)[k] : undefined;
  return v;
}

/** What a JSON value is, for messages (never the value itself: it may be large). */
function kindOf(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** A key of `parent` that is `name` in another case (`objectids` for `objectIds`), if any. */
function misspelt(parent: unknown, name: string): string | undefined {
  if (!parent || typeof parent !== 'object' || Array.isArray(parent)) return undefined;
  return Object.keys(parent).find((k) => k !== name && k.toLowerCase() === name.toLowerCase());
}
