/**
 * Redaction of secrets. A key whose name looks like a secret has its value replaced, at any
 * depth, and so has the password of a URL (`http://user:password@host`); `redactText` removes
 * known secret values from free text (error messages, logs).
 */

const SECRET_KEY = /pass(word)?|secret|api_?key|^key$|token|credential/i;
export const REDACTED = '***';
/** The password part of a URL's user information: `scheme://user:PASSWORD@`. */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:)([^/@\s]+)@/i;

export function redact<T>(value: T): T {
  if (typeof value === 'string') return value.replace(URL_PASSWORD, `$1${REDACTED}@`) as T;
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
  } else if (typeof value === 'string') {
    const password = URL_PASSWORD.exec(value)?.[2];
    if (password) found.push(password, decodeURIComponentSafe(password));
  }
  return found;
}

export function redactText(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join(REDACTED);
  return out;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
