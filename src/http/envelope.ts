/**
 * Sunbird's response envelope, which every answer of the sync API uses:
 *
 *   { "id": "api.data.sync", "ver": "v1", "ts": "2024-05-01T10:00:00.000Z",
 *     "params": { "resmsgid": "<uuid>", "msgid": null, "err": null, "status": "success", "errmsg": null },
 *     "responseCode": "OK", "result": { ... } }
 *
 * `resmsgid` is the request id of the server (also in its log lines); `msgid` echoes the
 * caller's `params.msgid` when the body carried one.
 */
import type { ResponseCode } from './api-errors.js';

export interface EnvelopeParams {
  readonly resmsgid: string;
  readonly msgid: string | null;
  readonly err: string | null;
  readonly status: 'success' | 'failed';
  readonly errmsg: string | null;
}

export interface Envelope<R> {
  readonly id: string;
  readonly ver: string;
  readonly ts: string;
  readonly params: EnvelopeParams;
  readonly responseCode: ResponseCode;
  readonly result: R;
}

export interface EnvelopeContext {
  /** The API id, e.g. `api.data.sync`. */
  readonly id: string;
  readonly resmsgid: string;
  readonly msgid: string | null;
  readonly now: Date;
}

export function successEnvelope<R>(ctx: EnvelopeContext, result: R): Envelope<R> {
  return {
    id: ctx.id,
    ver: 'v1',
    ts: ctx.now.toISOString(),
    params: { resmsgid: ctx.resmsgid, msgid: ctx.msgid, err: null, status: 'success', errmsg: null },
    responseCode: 'OK',
    result,
  };
}

export function errorEnvelope<R>(
  ctx: EnvelopeContext,
  error: { readonly code: string; readonly message: string; readonly responseCode: ResponseCode },
  result: R,
): Envelope<R> {
  return {
    id: ctx.id,
    ver: 'v1',
    ts: ctx.now.toISOString(),
    params: { resmsgid: ctx.resmsgid, msgid: ctx.msgid, err: error.code, status: 'failed', errmsg: error.message },
    responseCode: error.responseCode,
    result,
  };
}

/** The caller's `params.msgid`, when the body is Sunbird-shaped and has one. */
export function msgidOf(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  const params = (body as { params?: unknown }).params;
  if (!params || typeof params !== 'object') return null;
  const msgid = (params as { msgid?: unknown }).msgid;
  return typeof msgid === 'string' && msgid.length > 0 && msgid.length <= 200 ? msgid : null;
}
