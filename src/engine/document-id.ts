/**
 * The document `_id` of a row, from its primary key (partition key columns, then clustering
 * columns, in schema order). Reversible:
 *
 * - one key column: the value's text (as in the document: uuid text, ISO timestamp, digits...);
 * - several, format `delimited` (default): the parts' texts joined by the separator (default
 *   `:`), where a backslash or the separator inside a part is escaped with a backslash:
 *   (`a:b`, 7) -> `a\:b:7`;
 * - several, format `json`: a JSON array of the parts as in the document: `["a:b",7]`; numbers
 *   keep every digit (a bigint `9223372036854775807`, a decimal `1.50`), and splitJsonId gives
 *   their texts back exactly.
 */

export type IdFormat = { readonly format: 'delimited' | 'json'; readonly separator: string };

export function compileDocumentId(keyNames: readonly string[], f: IdFormat): (doc: Readonly<Record<string, unknown>>) => string {
  if (keyNames.length === 1) {
    const k = keyNames[0]!;
    return (doc) => partText(doc[k]);
  }
  if (f.format === 'json') return (doc) => JSON.stringify(keyNames.map((k) => doc[k]));
  const sep = f.separator;
  const escape = (s: string) => (s.includes('\\') || s.includes(sep) ? s.replaceAll('\\', '\\\\').replaceAll(sep, `\\${sep}`) : s);
  return (doc) => keyNames.map((k) => escape(partText(doc[k]))).join(sep);
}

/** Splits a delimited id back into its parts' texts (the inverse of the delimited format). */
export function splitDelimitedId(id: string, separator: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < id.length; i++) {
    const ch = id[i]!;
    if (ch === '\\' && i + 1 < id.length) {
      cur += id[++i];
    } else if (ch === separator) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

/**
 * Splits a `json` id back into its parts' texts (the inverse of the json format), or undefined
 * when the id is not a JSON array. A string part is its value; any other part is its JSON text
 * exactly as written in the id, numbers digit for digit: `[9007199254740993,"1.50",1.50]` gives
 * `9007199254740993`, `1.50` and `1.50`, never the nearest double's `9007199254740992` or `1.5`.
 */
export function splitJsonId(id: string): string[] | undefined {
  let parts: unknown;
  try {
    parts = JSON.parse(id, numbersAsWritten);
  } catch (e) {
    if (e instanceof SyntaxError) return undefined;
    throw e;
  }
  return Array.isArray(parts) ? parts.map(partText) : undefined;
}

/**
 * A `JSON.parse` reviver that keeps every number as the text it was written as (`JSON.rawJSON`
 * of the reviver's source text, which JSON.stringify writes back verbatim). Source text access
 * comes with JSON.rawJSON in Node.js (>= 21); without it, ids would lose digits, so it throws.
 */
function numbersAsWritten(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number') return value;
  if (context?.source === undefined) throw new Error('JSON.parse gives revivers no source text on this Node.js: exact ids need Node.js >= 22.12');
  return JSON.rawJSON(context.source);
}

function partText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
