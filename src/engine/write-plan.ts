/**
 * Deciding what to do with one record, given what the target holds. Pure; the stores still
 * enforce the version guard at write time, so this only avoids useless writes and carries
 * removals across (see removal.ts). It never makes a write that the guard would let through
 * wrongly: every write uses external_gte with a version >= the stored one it saw.
 *
 *   target has nothing                      -> write at the record's version
 *   stored version <  record version        -> write at the record's version
 *   stored version == record version:
 *       same digest                         -> unchanged
 *       other digest                        -> write at that version (content changed, WRITETIME did not)
 *   stored version >  record version:
 *       same digest                         -> unchanged
 *       other digest                        -> needs the stored body: a pure removal is written at
 *                                              the stored version; anything else means the target
 *                                              is newer and is left alone
 */
import type { StoredVersion } from './record.js';

export type Decision =
  | { readonly action: 'write'; readonly version: number }
  | { readonly action: 'unchanged' }
  | { readonly action: 'check-removal'; readonly storedVersion: number };

export function decide(recordVersion: number, digest: string, stored: StoredVersion | undefined): Decision {
  if (!stored) return { action: 'write', version: recordVersion };
  if (stored.version < recordVersion) return { action: 'write', version: recordVersion };
  if (stored.digest === digest) return { action: 'unchanged' };
  if (stored.version === recordVersion) return { action: 'write', version: recordVersion };
  return { action: 'check-removal', storedVersion: stored.version };
}
