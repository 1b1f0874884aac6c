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
      const message = issue.code === 'too_big' && issue.origin === 'array' ? `${issue.message}, got ${(lookup(body, issue.path) as unknown[]).length}` : issue.message;
      return `${where}: ${message}`;
    });
    const more = result.error.issues.length > 5 ? `; and ${result.error.issues.length - 5} more` : '';
    throw new ApiError('INVALID_REQUEST', `${issues.join('; ')}${more}`);
  }
  const { objectType, objectIds } = result.data.request;
  const pipeline = options.pipelines.find((p) => p.name === objectType);
  if (!pipeline) {
    const known = options.pipelines.map((p) => p.name).join(', ');
    throw new ApiError('INVALID_REQUEST', `request.objectType: unknown objectType ${JSON.stringify(objectType)} (known: ${known})`);
  }
  return { pipeline, ids: objectIds };
}

function lookup(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = (v as Record<PropertyKey, unknown>)[k];
  return v;
}
