/**
 * Pipeline state in a local JSON file, for simple single-host use:
 * `{ "pipelines": { "<pipeline>": state }, "watermarks": { "<pipeline>": { "<direction>": mark } }, "leases": {...} }`.
 * Written whole to a temporary file and renamed, so a crash never leaves a torn file.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Direction, PipelineState, StateStore, Watermark } from '../engine/ports.js';
import { parseState } from './state-schema.js';

interface FileState {
  pipelines: Record<string, PipelineState>;
  watermarks: Record<string, Partial<Record<Direction, Watermark>>>;
  leases: Record<string, { owner: string; expiresAt: number }>;
}

export class FileStateStore implements StateStore {
  private readonly path: string;
  private writing: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  async load(pipeline: string): Promise<PipelineState | undefined> {
    return (await this.readAll()).pipelines[pipeline];
  }

  async list(): Promise<PipelineState[]> {
    return Object.values((await this.readAll()).pipelines);
  }

  save(state: PipelineState): Promise<void> {
    return this.update((all) => {
      all.pipelines[state.pipeline] = state;
    });
  }

  async loadWatermark(pipeline: string, direction: Direction): Promise<Watermark | undefined> {
    return (await this.readAll()).watermarks[pipeline]?.[direction];
  }

  saveWatermark(pipeline: string, direction: Direction, mark: Watermark): Promise<void> {
    return this.update((all) => {
      all.watermarks[pipeline] = { ...all.watermarks[pipeline], [direction]: { version: mark.version, id: mark.id } };
    });
  }

  // Leases live in the same file: enough for several processes of one host, which is what a
  // file store is for. Expired leases are free.
  async acquireLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    let won = false;
    await this.update((all) => {
      const cur = all.leases[name];
      if (!cur || cur.owner === owner || cur.expiresAt < Date.now()) {
        all.leases[name] = { owner, expiresAt: Date.now() + ttlMs };
        won = true;
      }
    });
    return won;
  }

  async renewLease(name: string, owner: string, ttlMs: number): Promise<boolean> {
    let held = false;
    await this.update((all) => {
      const cur = all.leases[name];
      if (cur && cur.owner === owner && cur.expiresAt >= Date.now()) {
        all.leases[name] = { owner, expiresAt: Date.now() + ttlMs };
        held = true;
      }
    });
    return held;
  }

  releaseLease(name: string, owner: string): Promise<void> {
    return this.update((all) => {
      if (all.leases[name]?.owner === owner) delete all.leases[name];
    });
  }

  async leaseHolder(name: string): Promise<string | undefined> {
    const cur = (await this.readAll()).leases[name];
    return cur && cur.expiresAt >= Date.now() ? cur.owner : undefined;
  }

  /** Serialised: two updates never interleave their read-modify-write. */
  private update(change: (all: FileState) => void): Promise<void> {
    this.writing = this.writing.then(async () => {
      const all = await this.readAll();
      change(all);
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`);
      await rename(tmp, this.path);
    });
    return this.writing;
  }

  async close(): Promise<void> {
    await this.writing;
  }

  private async readAll(): Promise<FileState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { pipelines: {}, watermarks: {}, leases: {} };
      throw e;
    }
    const raw = JSON.parse(text) as { pipelines?: Record<string, unknown>; watermarks?: FileState['watermarks']; leases?: FileState['leases'] };
    return {
      pipelines: Object.fromEntries(Object.entries(raw.pipelines ?? {}).map(([k, v]) => [k, parseState(JSON.stringify(v), this.path)])),
      watermarks: raw.watermarks ?? {},
      leases: raw.leases ?? {},
    };
  }
}
