/**
 * The API key check: `Authorization: Bearer <key>`, compared in constant time (SHA-256 of both
 * sides, then `timingSafeEqual`, so neither the key's length nor its prefix leaks through timing).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { CesyncError } from '../errors.js';

/** The configured API key, or a USAGE error: the API never runs without one. */
export function requireApiKey(config: Readonly<Config>): string {
  const key = config.api.key;
  if (!key) {
    throw new CesyncError('USAGE', 'the HTTP API needs a key: set api.key in the configuration or CESYNC_API_KEY (at least 16 characters)');
  }
  return key;
}

/** A checker of Authorization header values against `key`. */
export function bearerKeyCheck(key: string): (authorization: string | undefined) => boolean {
  const expected = sha256(key);
  return (authorization) => {
    const match = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
    // Hash and compare even when the header is absent or malformed: same work either way.
    const same = timingSafeEqual(sha256(match?.[1] ?? ''), expected);
    return same && match !== null;
  };
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
