/**
 * Redaction of secrets. A key whose name looks like a secret has its value replaced, at any
 * depth; `redactText` removes known secret values from free text (error messages, logs).
 */

const SECRET_KEY = /pass(word)?|secret|api_?key|^key$|token|credential/i;
export const REDACTED = '***';

export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redact(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) && v !== undefined && v !== null ? REDACTED : redact(v);
    }
    return out as T;
  }
  return value;
}

/** Every secret value found in a config-like object, for scrubbing free text. */
export function secretValues(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) secretValues(v, found);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_KEY.test(k) && typeof v === 'string' && v.length > 0) found.push(v);
      else secretValues(v, found);
    }
  }
  return found;
}

export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join(REDACTED);
  return out;
}
