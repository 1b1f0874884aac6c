/**
 * What flows through the engine: records read from a source, the writes planned from them, and
 * what a sink reports back. The engine knows these shapes only; adapters translate to and from
 * their drivers.
 */

/** One source row, already converted to a document. */
export interface SourceRecord {
  /** The document `_id`: a reversible rendering of the primary key. */
  readonly id: string;
  /**
   * Version in microseconds since the epoch (the row's newest WRITETIME, or a version column),
   * or a small constant for tables whose cells carry no write time (counters, key-only). >= 0.
   */
  readonly version: number;
  /** JSON-serialisable body. May hold `JSON.rawJSON` values so big numbers keep every digit. */
  readonly document: Readonly<Record<string, unknown>>;
  /** Extra metadata stored beside the digest (for example the partition token). */
  readonly meta?: Readonly<Record<string, unknown>>;
  /**
   * Set when the row could not be made into a document (a value its shaping could not convert):
   * nothing is written for it, and it goes to the failure ledger with this reason, as a document
   * the target refused would. Its `document` is then empty.
   */
  readonly rejected?: { readonly errorType: string; readonly reason: string };
  /**
   * A digest of the parts a composed document is made of (ids and versions of its nested and
   * looked-up rows), for documents made of more than one row. A part deleted outright can leave
   * the version as it was: the parts still differ, so digests and version hashes tell it apart.
   */
  readonly parts?: string;
}

/**
 * Where a batch of a scan ends, so a checkpoint can be taken once every write of the batch is
 * acknowledged. `span` identifies the token range (an index into the scan's spans); `after` is
 * the exclusive start to resume that range from; `last` marks the range's final batch.
 */
export interface ScanPosition {
  readonly span: number;
  readonly after: string;
  readonly last: boolean;
}

export interface SourceBatch {
  readonly records: readonly SourceRecord[];
  readonly position?: ScanPosition;
}

/** What the target holds for an id, as far as deciding a write needs. */
export interface StoredVersion {
  readonly version: number;
  /** Digest of the content written by cesync; undefined for documents written by others. */
  readonly digest: string | undefined;
}

/** One write the engine asks the sink to make, guarded by `version` (external_gte). */
export type WriteOp =
  | {
      readonly kind: 'index';
      readonly id: string;
      readonly version: number;
      /** The document as JSON text (serialised once: the digest is taken from the same text). */
      readonly json: string;
      /** Stored with the document (digest, token), under the sink's metadata field. */
      readonly meta: Readonly<Record<string, unknown>>;
      /**
       * Refuse an equal version too (a planned creation): a document that appeared at the same
       * version meanwhile may hold newer content under an unchanged WRITETIME, so it is not
       * overwritten blindly; the refusal goes through the re-creation check instead.
       */
      readonly strict?: boolean;
    }
  | {
      /**
       * Delete, unless the target holds a version newer than `version` (the version the delete was
       * decided on). The delete itself must outrank `version`, so that a late write of a copy at
       * `version` or older does not bring the document back; and, when given, `notBefore` (the
       * time in microseconds at which the row was confirmed gone), so that a copy of the row read
       * before that moment cannot either.
       */
      readonly kind: 'delete';
      readonly id: string;
      readonly version: number;
      readonly notBefore?: number;
    };

/** Why a single document was refused: by the target (mapping, rejected, transient), or by its shaping. */
export type RejectionClass = 'mapping' | 'rejected' | 'transient' | 'shape';

export type WriteOutcome =
  | { readonly kind: 'written'; readonly created: boolean }
  | { readonly kind: 'deleted' }
  /** The target already holds a newer version (`currentVersion` when it says which): not a failure. */
  | { readonly kind: 'conflict'; readonly currentVersion?: number }
  | { readonly kind: 'rejected'; readonly errorClass: RejectionClass; readonly errorType: string; readonly reason: string };
