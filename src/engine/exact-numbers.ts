/**
 * A `JSON.parse` reviver that keeps every number whose text a JavaScript number would not give
 * back (digits beyond a double, the scale of `1.50`) as `JSON.rawJSON` of that text (Node >= 21
 * gives revivers the source text). Serialising the result gives the same text again. Shared by
 * whatever reads documents back (the change feed) and turns them into rows.
 *
 * @example JSON.parse('{"n":9223372036854775807}', exactNumbers) // { n: rawJSON('9223372036854775807') }
 */
export function exactNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value;
  return String(value) === context.source ? value : JSON.rawJSON(context.source);
}
