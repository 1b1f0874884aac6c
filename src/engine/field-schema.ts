/**
 * A store-neutral description of a document's fields. Sources describe their columns with it;
 * targets derive their mapping from it (src/elasticsearch/index-mapping.ts). Arrays are implicit:
 * a list of integers is described by its element type, as search engines index arrays.
 */

export type FieldType =
  /** Exact strings: identifiers, enumerations. */
  | { readonly kind: 'keyword' }
  /** Free text (also searchable exactly through a keyword sub-field). */
  | { readonly kind: 'text' }
  | { readonly kind: 'integer'; readonly bits: 8 | 16 | 32 | 64 }
  /** An integer of any size, carried as a string of digits. */
  | { readonly kind: 'big-integer' }
  /** An exact decimal, carried as a JSON number with every digit. */
  | { readonly kind: 'decimal' }
  | { readonly kind: 'float' }
  | { readonly kind: 'double' }
  | { readonly kind: 'boolean' }
  /** An instant, ISO 8601 with milliseconds and `Z`. */
  | { readonly kind: 'timestamp' }
  /** A calendar date, `YYYY-MM-DD`. */
  | { readonly kind: 'date' }
  | { readonly kind: 'ip' }
  /** Bytes, base64. */
  | { readonly kind: 'binary' }
  /** Named fields known in advance (user-defined types). */
  | { readonly kind: 'object'; readonly fields: Readonly<Record<string, FieldType>> }
  /** Keys known only at run time, all values of one type (maps). */
  | { readonly kind: 'map'; readonly values: FieldType }
  /** Kept in the document but not indexed: heterogeneous values such as tuples. */
  | { readonly kind: 'opaque' }
  /** Structure known only from the values (JSON parsed from text): the target maps it as it sees it. */
  | { readonly kind: 'dynamic' };

export interface FieldDescription {
  readonly name: string;
  readonly type: FieldType;
  /** Part of the primary key. */
  readonly key: boolean;
}
