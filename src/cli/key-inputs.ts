/**
 * Reading requested ids: `--ids a,b,c` (document ids) or `--ids-file FILE` / `-` for stdin
 * (CSV without a header, one id per line; composite keys as one column per key column).
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import type { KeyInput } from '../engine/key-input.js';
import { CesyncError } from '../errors.js';

export function idsFromFlag(ids: string): KeyInput[] {
  return ids
    .split(',')
    .map((s) => s.trim())
    .map((id, i) => ({ line: i + 1, fields: [id] }))
    .filter((k) => k.fields[0] !== '');
}

/** Every non-empty CSV record with its line number. */
export async function idsFromCsv(path: string, stdin: NodeJS.ReadableStream): Promise<KeyInput[]> {
  const input: NodeJS.ReadableStream = path === '-' ? stdin : createReadStream(path);
  const parser = parse({ relax_column_count: true, skip_empty_lines: true, trim: true, info: true, bom: true });
  const out: KeyInput[] = [];
  try {
    input.pipe(parser);
    input.on('error', (e: Error) => parser.destroy(e));
    for await (const rec of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (rec.record.length === 1 && rec.record[0] === '') continue;
      out.push({ line: rec.info.lines, fields: rec.record, fromFile: true });
    }
  } catch (cause) {
    throw new CesyncError('USAGE', `cannot read ids from ${path === '-' ? 'stdin' : path}: ${(cause as Error).message}`, { cause });
  }
  return out;
}
