/** Saved pipeline state is validated when read: a damaged entry is an error, never a silent restart. */
import { z } from 'zod';
import type { PipelineState, VerifySummary } from '../engine/ports.js';
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
  watermarkFrom: z.number().optional(),
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

const drift = z.object({ missing: z.number(), orphan: z.number(), stale: z.number(), different: z.number() });
const verifySchema = z.object({
  pipeline: z.string(),
  at: z.string(),
  inSync: z.boolean(),
  content: z.boolean(),
  since: z.string().optional(),
  counts: drift,
  spans: z.number(),
  driftSpans: z.array(z.object({ start: token, end: token.nullable(), differences: z.number() })),
  durationMs: z.number(),
});

/** A saved verify summary; a damaged one is an error that says where (it is never acted on). */
export function parseVerify(text: string, where: string): VerifySummary {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CesyncError('STATE_INVALID', `the saved verify in ${where} is not JSON`);
  }
  const r = verifySchema.safeParse(raw);
  if (!r.success) throw new CesyncError('STATE_INVALID', `the saved verify in ${where} is damaged (${r.error.issues[0]?.message})`);
  return r.data;
}
