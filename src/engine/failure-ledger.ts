/**
 * The failure ledger: one NDJSON line per document that did not reach the target, with its id,
 * pipeline, error class and reason. The file is created only when there is something to write,
 * and appended to, so several runs can share one ledger.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { FailureEntry, FailureSink } from './ports.js';

export class NdjsonFailureLedger implements FailureSink {
  private stream: WriteStream | undefined;
  private count = 0;
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  record(entry: FailureEntry): void {
    this.stream ??= createWriteStream(this.path, { flags: 'a' });
    this.stream.write(`${JSON.stringify(entry)}\n`);
    this.count += 1;
  }

  /** Number of entries written by this instance. */
  get written(): number {
    return this.count;
  }

  async close(): Promise<void> {
    if (!this.stream) return;
    const s = this.stream;
    this.stream = undefined;
    s.end();
    await once(s, 'finish');
  }
}

/** A ledger held in memory (for callers that return failures instead of writing a file). */
export class MemoryFailureLedger implements FailureSink {
  readonly entries: FailureEntry[] = [];
  record(entry: FailureEntry): void {
    this.entries.push(entry);
  }
  async close(): Promise<void> {}
}
