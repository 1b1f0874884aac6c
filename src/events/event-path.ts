/**
 * Paths into an event's JSON: `edata.fromUserProfile.userId`, `object.id`, `objectIds[*]`,
 * `items[0].id`. A step is a field name; `[*]` takes every element of an array, `[N]` one. The
 * grammar is small on purpose: what Sunbird's events and most change events need, nothing that
 * could surprise (no filters, no recursion).
 */

const STEP = /^([A-Za-z0-9_$@-]+)((?:\[(?:\*|\d+)\])*)$/;

/** A path's syntax, for the configuration schema's messages. */
export const EVENT_PATH = /^[A-Za-z0-9_$@-]+(?:\[(?:\*|\d+)\])*(?:\.[A-Za-z0-9_$@-]+(?:\[(?:\*|\d+)\])*)*$/;

type Step = { readonly field: string } | { readonly index: number | '*' };

export type EventPath = readonly Step[];

export function parseEventPath(text: string): EventPath {
  const steps: Step[] = [];
  for (const part of text.split('.')) {
    const m = STEP.exec(part);
    if (!m) throw new Error(`"${text}" is not an event path (fields separated by dots, [*] or [N] after a field for array elements)`);
    steps.push({ field: m[1]! });
    for (const idx of m[2]!.matchAll(/\[(\*|\d+)\]/g)) steps.push({ index: idx[1] === '*' ? '*' : Number(idx[1]) });
  }
  return steps;
}

/** Every value the path reaches in `event` (none when a step is missing; `[*]` gives each element). */
export function valuesAt(event: unknown, path: EventPath): unknown[] {
  let at: unknown[] = [event];
  for (const step of path) {
    const next: unknown[] = [];
    for (const v of at) {
      if ('field' in step) {
        if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, step.field)) next.push((v as Record<string, unknown>)[step.field]);
      } else if (Array.isArray(v)) {
        if (step.index === '*') next.push(...v);
        else if (step.index < v.length) next.push(v[step.index]);
      }
    }
    at = next;
  }
  return at.filter((v) => v !== undefined);
}

/** The one scalar (string, number, boolean) at `path`, or a message that says why there is none. */
export function scalarAt(event: unknown, path: EventPath, text: string): { value: string | number | boolean } | { error: string } {
  const values = valuesAt(event, path);
  if (values.length === 0) return { error: `the event has no ${text}` };
  if (values.length > 1) return { error: `the event has ${values.length} values at ${text}, expected one` };
  const v = values[0];
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return { value: v };
  return { error: `${text} is ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}, expected a string, number or boolean` };
}
