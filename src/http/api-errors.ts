/**
 * The coded errors of the HTTP API: one registry, each code with its HTTP status, Sunbird
 * `responseCode` and message. Handlers throw `ApiError`s (or let a `CesyncError` through); the
 * app's error handler is the one place that turns them into responses.
 */
import { CesyncError, type ErrorCode } from '../errors.js';

/** Sunbird's `responseCode` values used by this API. */
export type ResponseCode = 'OK' | 'CLIENT_ERROR' | 'UNAUTHORIZED' | 'RESOURCE_NOT_FOUND' | 'SERVER_ERROR' | 'SERVICE_UNAVAILABLE';

interface ApiErrorSpec {
  readonly status: number;
  readonly responseCode: ResponseCode;
  /** Used when the thrower gives no message of its own. */
  readonly message: string;
}

export const API_ERRORS = Object.freeze({
  UNAUTHORIZED: { status: 401, responseCode: 'UNAUTHORIZED', message: 'missing or wrong API key: send the header Authorization: Bearer <api.key>' },
  INVALID_REQUEST: { status: 400, responseCode: 'CLIENT_ERROR', message: 'the request body is invalid' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, responseCode: 'CLIENT_ERROR', message: 'send the body as JSON with the header Content-Type: application/json' },
  BODY_TOO_LARGE: { status: 413, responseCode: 'CLIENT_ERROR', message: 'the request body is too large: send fewer objectIds per request' },
  NOT_FOUND: { status: 404, responseCode: 'RESOURCE_NOT_FOUND', message: 'no such endpoint: POST /api/data/v1/index/sync and GET /health are served' },
  STORE_UNAVAILABLE: { status: 503, responseCode: 'SERVICE_UNAVAILABLE', message: 'a store is unreachable' },
  STORE_AUTH: { status: 503, responseCode: 'SERVICE_UNAVAILABLE', message: 'a store refused the credentials of the server' },
  STORE_REQUEST: { status: 500, responseCode: 'SERVER_ERROR', message: 'a store refused a request' },
  SCHEMA_MISMATCH: { status: 500, responseCode: 'SERVER_ERROR', message: 'the table or index does not fit the pipeline' },
  INTERRUPTED: { status: 503, responseCode: 'SERVICE_UNAVAILABLE', message: 'the server is stopping: the sync was interrupted, retry later' },
  INTERNAL_ERROR: { status: 500, responseCode: 'SERVER_ERROR', message: 'internal error (see the server log)' },
} satisfies Record<string, ApiErrorSpec>);

export type ApiErrorCode = keyof typeof API_ERRORS;

export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly responseCode: ResponseCode;
  constructor(code: ApiErrorCode, message?: string, options?: { cause?: unknown }) {
    const spec: ApiErrorSpec = API_ERRORS[code];
    super(message ?? spec.message, options);
    this.name = 'ApiError';
    this.code = code;
    this.status = spec.status;
    this.responseCode = spec.responseCode;
  }
}

/** Error codes of the engine that can reach a request, and the API code each one answers with. */
const FROM_CESYNC: Partial<Record<ErrorCode, ApiErrorCode>> = {
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  STORE_AUTH: 'STORE_AUTH',
  STORE_REQUEST: 'STORE_REQUEST',
  SCHEMA_MISMATCH: 'SCHEMA_MISMATCH',
  INTERRUPTED: 'INTERRUPTED',
};

/** Fastify's own errors about bodies, by their code. */
const FROM_FASTIFY: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_REQUEST',
};

/**
 * Any error thrown while handling a request, as an ApiError. A CesyncError keeps its message
 * (they name the store, never a credential); anything unexpected becomes INTERNAL_ERROR with
 * the generic message, its details go to the log only.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof CesyncError) {
    const code = FROM_CESYNC[error.code];
    return code ? new ApiError(code, error.message, { cause: error }) : new ApiError('INTERNAL_ERROR', undefined, { cause: error });
  }
  const e = error as { code?: unknown; statusCode?: unknown; message?: unknown };
  const fastifyCode = typeof e.code === 'string' ? FROM_FASTIFY[e.code] : undefined;
  if (fastifyCode === 'INVALID_REQUEST') {
    return new ApiError('INVALID_REQUEST', `the body is not valid JSON: ${String(e.message)}`, { cause: error });
  }
  if (fastifyCode) return new ApiError(fastifyCode, undefined, { cause: error });
  if (error instanceof SyntaxError && e.statusCode === 400) {
    return new ApiError('INVALID_REQUEST', `the body is not valid JSON: ${error.message}`, { cause: error });
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiError('INVALID_REQUEST', typeof e.message === 'string' ? e.message : undefined, { cause: error });
  }
  return new ApiError('INTERNAL_ERROR', undefined, { cause: error });
}
