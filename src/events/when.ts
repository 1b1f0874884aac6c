/** The `when` filter of a handler: each path must hold the given value or one of the given values. */
import { parseEventPath, valuesAt, type EventPath } from './event-path.js';

type Scalar = string | number | boolean;

export type When = (body: unknown) => string | undefined;

/** A check that returns why an event does not match (undefined when it does). */
export function compileWhen(when: Readonly<Record<string, Scalar | readonly Scalar[]>> | undefined): When {
  const checks: [string, EventPath, readonly Scalar[]][] = Object.entries(when ?? {}).map(([text, v]) => [text, parseEventPath(text), Array.isArray(v) ? v : [v as Scalar]]);
  return (body) => {
    for (const [text, path, wanted] of checks) {
      const found = valuesAt(body, path);
      if (!found.some((f) => wanted.includes(f as Scalar))) return `${text} is ${found.length ? JSON.stringify(found.length === 1 ? found[0] : found) : 'missing'}, not ${wanted.map((w) => JSON.stringify(w)).join(' or ')}`;
    }
    return undefined;
  };
}
