/** Saved pipeline state is validated when read: a damaged entry is an error, never a silent restart. */
import { z } from 'zod';
import type { PipelineState } from '../engine/ports.js';
import { CesyncError } from '../errors.js';

const token = z.string().regex(/^-?\d+$/);
const stateSchema = z.object({
  pipeline: z.string(),
  runId: z.string(),
  mode: z.literal('full'),
  status: z.enum(['running', 'finished', 'interrupted', 'failed']),
  startedAt: z.string(),
  updatedAt: z.string(),
  spans: z.array(z.object({ start: token, end: token.nullable(), after: token.optional(), done: z.boolean() })),
  counters: z.record(z.string(), z.number()),
  error: z.string().optional(),
});

export function parseState(text: string, where: string): PipelineState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CesyncError('STATE_INVALID', `saved state in ${where} is not JSON; pass --restart to start over`);
  }
  const r = stateSchema.safeParse(raw);
  if (!r.success) throw new CesyncError('STATE_INVALID', `saved state in ${where} is damaged (${r.error.issues[0]?.message}); pass --restart to start over`);
  return r.data;
}
