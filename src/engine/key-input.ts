/**
 * Requested ids, as given by a user: CSV lines (the Sunbird sync tool's id file: no header, one
 * id per line; composite keys as one column per key column, in key order), or document ids.
 * Each input is checked: malformed and duplicate ones are reported with their line numbers and
 * left out; the valid ones are returned as parsed keys.
 */
import type { ParsedKey, RecordSource } from './ports.js';
import type { InputProblem } from './run-report.js';

export interface KeyInput {
  /** 1-based line (or position) of the input, for messages. */
  readonly line: number;
  /** The CSV fields of the line, or a single document id. */
  readonly fields: readonly string[];
  /** A line of an id file (whose first line may be a header by mistake), not an id given directly. */
  readonly fromFile?: boolean;
}

export interface ParsedKeys {
  readonly keys: ParsedKey[];
  /** Line of each key, by id (for reporting missing ones). */
  readonly lines: Map<string, number>;
  readonly problems: InputProblem[];
}

/** Elasticsearch refuses a document `_id` longer than this many bytes: such an id can never be synced. */
export const MAX_ID_BYTES = 512;

export function parseKeyInputs(inputs: Iterable<KeyInput>, source: Pick<RecordSource, 'keyColumns' | 'parseKey' | 'idParts'>): ParsedKeys {
  const columns = source.keyColumns();
  const keys: ParsedKey[] = [];
  const lines = new Map<string, number>();
  const problems: InputProblem[] = [];
  let atStart = true;
  for (const { line, fields, fromFile } of inputs) {
    const text = fields.join(',');
    const isFirst = atStart;
    atStart = false;
    // Id files have no header; a first line that names the key columns is one.
    if (isFirst && fromFile && fields.length === columns.length && fields.every((f, i) => f.toLowerCase() === columns[i]!.toLowerCase())) {
      problems.push({ line, kind: 'malformed', text, reason: `a header line (the key column names); id files have none: remove it` });
      continue;
    }
    // One field for a composite key: a document id in the configured id format.
    const parts = fields.length === 1 && columns.length > 1 ? source.idParts(fields[0]!) : [...fields];
    if (parts.length !== columns.length) {
      problems.push({
        line,
        kind: 'malformed',
        text,
        reason: `expected ${columns.length} key column${columns.length > 1 ? 's' : ''} (${columns.join(', ')}), got ${parts.length}`,
      });
      continue;
    }
    const parsed = source.parseKey(parts);
    if ('error' in parsed) {
      problems.push({ line, kind: 'malformed', text, reason: parsed.error });
      continue;
    }
    const bytes = Buffer.byteLength(parsed.id, 'utf8');
    if (bytes > MAX_ID_BYTES) {
      problems.push({ line, kind: 'malformed', text, reason: `the document id would be ${bytes} bytes; Elasticsearch ids are at most ${MAX_ID_BYTES}` });
      continue;
    }
    const first = lines.get(parsed.id);
    if (first !== undefined) {
      problems.push({ line, kind: 'duplicate', text, reason: `same id as line ${first}` });
      continue;
    }
    lines.set(parsed.id, line);
    keys.push(parsed);
  }
  return { keys, lines, problems };
}
