/**
 * Coded errors. Every error cesync raises on purpose is a CesyncError with a stable code; only
 * the CLI entry point turns codes into exit codes and messages (see `exitCodeOf`).
 */

export type ErrorCode =
  | 'USAGE' // bad flags or arguments
  | 'CONFIG_INVALID' // the configuration file does not validate
  | 'CONFIG_NOT_FOUND' // no configuration file
  | 'SCHEMA_MISMATCH' // table or index does not fit the pipeline (missing table, bad version column)
  | 'STORE_UNAVAILABLE' // a store did not answer after retries
  | 'STORE_AUTH' // a store refused our credentials
  | 'STORE_REQUEST' // a store refused a request for another reason
  | 'STATE_INVALID' // saved pipeline state is damaged
  | 'LEASE_HELD' // another watcher holds the pipeline's lease
  | 'GUARD' // refused by a safety guard (--max-changes) before writing anything
  | 'INTERRUPTED'; // stopped by a signal

export class CesyncError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CesyncError';
    this.code = code;
  }
}

/**
 * Exit codes, documented in the README:
 * 0 success; 1 the run finished but some documents failed (see the failure ledger);
 * 2 bad usage or configuration; 3 a store is unreachable or refused us; 4 interrupted;
 * 5 refused by a guard (--max-changes) before anything was written; 6 another watcher holds the
 * pipeline's lease; 70 an unexpected internal error.
 */
export const EXIT = Object.freeze({
  OK: 0,
  DOCUMENTS_FAILED: 1,
  USAGE: 2,
  STORE: 3,
  INTERRUPTED: 4,
  GUARD: 5,
  LEASE: 6,
  INTERNAL: 70,
});

export function exitCodeOf(error: unknown): number {
  if (!(error instanceof CesyncError)) return EXIT.INTERNAL;
  switch (error.code) {
    case 'USAGE':
    case 'CONFIG_INVALID':
    case 'CONFIG_NOT_FOUND':
    case 'SCHEMA_MISMATCH':
    case 'STATE_INVALID':
      return EXIT.USAGE;
    case 'LEASE_HELD':
      return EXIT.LEASE;
    case 'STORE_UNAVAILABLE':
    case 'STORE_AUTH':
    case 'STORE_REQUEST':
      return EXIT.STORE;
    case 'INTERRUPTED':
      return EXIT.INTERRUPTED;
    case 'GUARD':
      return EXIT.GUARD;
  }
}
