/**
 * Pipeline state in a local JSON file, for simple single-host use:
 * `{ "pipelines": { "<pipeline>": state }, "watermarks": { "<pipeline>": { "<direction>": mark } }, "leases": {...},
 * "verifies": { "<pipeline>": summary } }`.
 *
 * Several processes may share the file (watchers of different pipelines, a sync beside a watch,
 * two watchers starting at once). Contract:
 * - every change is a read-modify-write done while holding an exclusive lock file beside the state
 *   file (`<path>.lock`), so no process's change overwrites another's and at most one process
 *   wins a lease;
 * - the file is replaced whole: written to a temporary file, flushed, and renamed over, so a reader
 *   or a process killed at any point (kill -9 included) never sees half a file;
 * - reads take no lock: they always see a whole file, the last one renamed into place.
 *
 * The lock file holds its owner's pid, host and time. A lock whose owner process is gone (same
 * host), or older than `staleMs` (a critical section takes milliseconds, so its owner hangs), is
 * broken. Waiting for a live lock gives up after `waitMs` with STORE_UNAVAILABLE.
 */
import { randomUUID } from 'node:crypto';
import { link, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Direction, PipelineState, StateStore, VerifySummary, Watermark } from '../engine/ports.js';
import { CesyncError } from '../errors.js';
import { parseState, parseVerify } from './state-schema.js';

interface FileState {
  pipelines: Record<string, PipelineState>;
  watermarks: Record<string, Partial<Record<Direction, Watermark>>>;
  leases: Record<string, { owner: string; expiresAt: number }>;
  /** Checked when read (loadVerify): a damaged one never stands in the way of the rest. */
  verifies: Record<string, unknown>;
}

export interface FileLockOptions {
  /** A lock older than this is taken to be left by a hung or dead process, and broken. */
  readonly staleMs?: number;
  /** How long to wait for a live lock before giving up; longer than `staleMs`. */
  readonly waitMs?: number;
  /** Pause between attempts to take the lock (with jitter). */
  readonly retryMs?: number;
}

export class FileStateStore implements StateStore {
  private readonly path: string;
  private readonly lock: FileLock;
  private writing: Promise<void> = Promise.resolve();

  constructor(path: string, options: { lock?: FileLockOptions } = {}) {
    this.path = path;
    this.lock = new FileLock(`${path}.lock`, path, options.lock);
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

  saveVerify(summary: VerifySummary): Promise<void> {
    return this.update((all) => {
      all.verifies[summary.pipeline] = summary;
    });
  }

  async loadVerify(pipeline: string): Promise<VerifySummary | undefined> {
    const v = (await this.readAll()).verifies[pipeline];
    return v === undefined ? undefined : parseVerify(JSON.stringify(v), this.path);
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
  // file store is for. Expired leases are free. Times are wall-clock, shared by the processes.
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

  async close(): Promise<void> {
    await this.writing;
  }

  /**
   * One read-modify-write under the lock file. Queued in this process too (one lock file per
   * process at a time), and a failed change does not fail the ones queued after it.
   */
  private update(change: (all: FileState) => void): Promise<void> {
    const next = this.writing.then(() =>
      this.lock.hold(async (stillHeld) => {
        const all = await this.readAll();
        change(all);
        await this.replace(`${JSON.stringify(all, null, 2)}\n`, stillHeld);
      }),
    );
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** Writes a temporary file beside the state file, flushes it, and renames it over. */
  private async replace(text: string, stillHeld: () => Promise<boolean>): Promise<void> {
    const tmp = `${this.path}.${process.pid}.${randomUUID()}.tmp`;
    try {
      const file = await open(tmp, 'wx');
      try {
        await file.writeFile(text);
        await file.sync();
      } finally {
        await file.close();
      }
      // A lock broken while held (this process stalled past `staleMs`) may have let another
      // process write meanwhile: better to fail this change than to overwrite that one.
      if (!(await stillHeld())) {
        throw new CesyncError('STORE_UNAVAILABLE', `state file ${this.path}: the lock was taken over while this process held it (stalled for more than ${this.lock.staleMs / 1000} s); the change was not saved`);
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  private async readAll(): Promise<FileState> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { pipelines: {}, watermarks: {}, leases: {}, verifies: {} };
      throw e;
    }
    const raw = JSON.parse(text) as { pipelines?: Record<string, unknown>; watermarks?: FileState['watermarks']; leases?: FileState['leases']; verifies?: Record<string, unknown> };
    return {
      pipelines: Object.fromEntries(Object.entries(raw.pipelines ?? {}).map(([k, v]) => [k, parseState(JSON.stringify(v), this.path)])),
      watermarks: raw.watermarks ?? {},
      leases: raw.leases ?? {},
      verifies: raw.verifies ?? {},
    };
  }
}

/** What a lock file holds. `token` tells this holding from any other, of any process. */
interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly at: number;
  readonly token: string;
}

/** A lock file as it was seen: its content and identity, to break exactly that one. */
interface SeenLock {
  readonly text: string;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly owner: LockOwner | undefined;
}

/**
 * An exclusive lock file, created with `wx` (fails when it exists). Held for one short critical
 * section at a time.
 */
class FileLock {
  readonly staleMs: number;
  private readonly waitMs: number;
  private readonly retryMs: number;
  private readonly lockPath: string;
  private readonly statePath: string;

  constructor(lockPath: string, statePath: string, options: FileLockOptions = {}) {
    this.lockPath = lockPath;
    this.statePath = statePath;
    this.staleMs = options.staleMs ?? 10_000;
    this.waitMs = options.waitMs ?? Math.max(15_000, this.staleMs + 5000);
    this.retryMs = options.retryMs ?? 10;
  }

  /** Runs `fn` holding the lock; `fn` may ask whether the lock is still its own. Always released. */
  async hold<T>(fn: (stillHeld: () => Promise<boolean>) => Promise<T>): Promise<T> {
    const token = await this.acquire();
    try {
      return await fn(async () => (await this.look())?.owner?.token === token);
    } finally {
      await this.release(token);
    }
  }

  private async acquire(): Promise<string> {
    const deadline = Date.now() + this.waitMs;
    for (;;) {
      const token = randomUUID();
      if (await this.create({ pid: process.pid, host: hostname(), at: Date.now(), token })) return token;
      const seen = await this.look();
      if (!seen) continue; // released meanwhile
      if (this.isStale(seen)) {
        await this.breakLock(seen);
        continue;
      }
      if (Date.now() > deadline) {
        const by = seen.owner ? `pid ${seen.owner.pid} on ${seen.owner.host} since ${new Date(seen.owner.at).toISOString()}` : 'a process that is writing it';
        throw new CesyncError('STORE_UNAVAILABLE', `state file ${this.statePath} stayed locked for more than ${this.waitMs / 1000} s by ${by}; if no cesync process is running, remove ${this.lockPath}`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.retryMs * (0.5 + Math.random())));
    }
  }

  /** Creates the lock file with our content; false when it exists. */
  private async create(owner: LockOwner): Promise<boolean> {
    let file;
    try {
      file = await open(this.lockPath, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      await file.writeFile(JSON.stringify(owner));
      await file.close();
      return true;
    } catch (e) {
      await file.close().catch(() => undefined);
      await rm(this.lockPath, { force: true });
      throw e;
    }
  }

  private async look(): Promise<SeenLock | undefined> {
    try {
      const [text, st] = await Promise.all([readFile(this.lockPath, 'utf8'), stat(this.lockPath)]);
      return { text, ino: st.ino, mtimeMs: st.mtimeMs, owner: parseOwner(text) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** Gone owner (on this host), or too old; an empty or partial file counts from its mtime. */
  private isStale(seen: SeenLock): boolean {
    if (seen.owner && seen.owner.host === hostname() && !isAlive(seen.owner.pid)) return true;
    return Date.now() - (seen.owner?.at ?? seen.mtimeMs) > this.staleMs;
  }

  /**
   * Breaks the lock seen, and only that one: it is first moved aside (atomically, so one breaker
   * wins), then checked to be the lock judged stale. If another process had broken it and taken
   * the lock in the meantime, the lock moved aside is that process's: it is put back (`link`
   * fails rather than replace a lock a third process has taken since).
   */
  private async breakLock(seen: SeenLock): Promise<void> {
    const aside = `${this.lockPath}.${process.pid}.${randomUUID()}.broken`;
    try {
      await rename(this.lockPath, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      const [text, st] = await Promise.all([readFile(aside, 'utf8'), stat(aside)]);
      if (text !== seen.text || st.ino !== seen.ino || st.mtimeMs !== seen.mtimeMs) await link(aside, this.lockPath).catch(() => undefined);
    } finally {
      await rm(aside, { force: true });
    }
  }

  /** Removes the lock file if it is still ours (not broken and retaken while we stalled). */
  private async release(token: string): Promise<void> {
    const seen = await this.look().catch(() => undefined);
    if (seen?.owner?.token === token) await rm(this.lockPath, { force: true });
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    return typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.at === 'number' && typeof o.token === 'string' ? (o as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a process of this host exists (EPERM: it does, under another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
