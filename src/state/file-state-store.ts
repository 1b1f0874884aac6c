/**
 * Pipeline state in a local JSON file, for simple single-host use: `{ "<pipeline>": state }`.
 * Written whole to a temporary file and renamed, so a crash never leaves a torn file.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { PipelineState, StateStore } from '../engine/ports.js';
import { parseState } from './state-schema.js';

export class FileStateStore implements StateStore {
  private readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  async load(pipeline: string): Promise<PipelineState | undefined> {
    return (await this.readAll())[pipeline];
  }

  async list(): Promise<PipelineState[]> {
    return Object.values(await this.readAll());
  }

  save(state: PipelineState): Promise<void> {
    // Serialised: two saves never interleave their read-modify-write.
    this.writing = this.writing.then(async () => {
      const all = await this.readAll();
      all[state.pipeline] = state;
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`);
      await rename(tmp, this.path);
    });
    return this.writing;
  }

  async close(): Promise<void> {
    await this.writing;
  }

  private async readAll(): Promise<Record<string, PipelineState>> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw e;
    }
    const raw = JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, parseState(JSON.stringify(v), this.path)]));
  }
}
