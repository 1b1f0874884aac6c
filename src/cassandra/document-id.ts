/**
 * The document `_id` of a row, from its primary key (partition key columns, then clustering
 * columns, in schema order). Reversible:
 *
 * - one key column: the value's text (as in the document: uuid text, ISO timestamp, digits...);
 * - several, format `delimited` (default): the parts' texts joined by the separator (default
 *   `:`), where a backslash or the separator inside a part is escaped with a backslash:
 *   (`a:b`, 7) -> `a\:b:7`;
 * - several, format `json`: a JSON array of the parts: `["a:b",7]`.
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

function partText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}
