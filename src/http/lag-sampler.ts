/**
 * The lag sampler of `cesync serve`'s status page: every 30 s it reads each pipeline's saved
 * watermark of each of its directions (through the StateStore port) and keeps the lag (now minus
 * the watermark's version) of the last hour in memory. Nothing is persisted: a restarted server
 * starts with an empty history.
 */
import type { Direction, Watermark } from '../engine/ports.js';

export interface LagSample {
  /** When the sample was taken, ISO 8601. */
  readonly at: string;
  /** Seconds between then and the saved watermark. */
  readonly lagSeconds: number;
}

export interface LagSamplerOptions {
  /** The pipelines and the directions each of them syncs. */
  readonly pipelines: readonly { readonly name: string; readonly directions: readonly Direction[] }[];
  readonly loadWatermark: (pipeline: string, direction: Direction) => Promise<Watermark | undefined>;
  /** Milliseconds since the epoch (tests pass a clock). */
  readonly now?: () => number;
  readonly intervalMs?: number;
  readonly windowMs?: number;
  /** Called when a watermark could not be read (that sample is left out). */
  readonly onError?: (pipeline: string, direction: Direction, cause: unknown) => void;
}

export const LAG_SAMPLE_INTERVAL_MS = 30_000;
export const LAG_WINDOW_MS = 60 * 60_000;

/** The directions whose watermark a pipeline of this `direction` setting moves. */
export function directionsOf(direction: 'to-elasticsearch' | 'to-cassandra' | 'both'): Direction[] {
  return direction === 'both' ? ['to-elasticsearch', 'to-cassandra'] : [direction];
}

/** Lag in seconds of a watermark (its version is microseconds since the epoch) at `nowMs`. */
export function lagSeconds(mark: Watermark, nowMs: number): number {
  return Math.max(0, (nowMs - mark.version / 1000) / 1000);
}

export class LagSampler {
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly now: () => number;
  private readonly samples = new Map<string, { readonly atMs: number; readonly lagSeconds: number }[]>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly options: LagSamplerOptions;

  constructor(options: LagSamplerOptions) {
    this.options = options;
    this.intervalMs = options.intervalMs ?? LAG_SAMPLE_INTERVAL_MS;
    this.windowMs = options.windowMs ?? LAG_WINDOW_MS;
    this.now = options.now ?? Date.now;
  }

  /** Takes a sample now and then every interval, until `stop` (the timer keeps no process alive). */
  start(): void {
    if (this.timer) return;
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async tick(): Promise<void> {
    if (this.running) return; // a slow store: skip this tick rather than pile up reads
    this.running = this.sample().catch(() => undefined);
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /** One round: a sample per pipeline and direction that has a watermark; older ones are dropped. */
  async sample(): Promise<void> {
    for (const p of this.options.pipelines) {
      for (const d of p.directions) {
        let mark: Watermark | undefined;
        try {
          mark = await this.options.loadWatermark(p.name, d);
        } catch (cause) {
          this.options.onError?.(p.name, d, cause);
          continue; // the store did not answer: a gap in the chart, not a failed server
        }
        const atMs = this.now();
        const key = keyOf(p.name, d);
        const list = (this.samples.get(key) ?? []).filter((s) => s.atMs > atMs - this.windowMs);
        if (mark) list.push({ atMs, lagSeconds: lagSeconds(mark, atMs) });
        this.samples.set(key, list);
      }
    }
  }

  /** The samples of the last hour of one pipeline and direction, oldest first. */
  history(pipeline: string, direction: Direction): LagSample[] {
    const since = this.now() - this.windowMs;
    return (this.samples.get(keyOf(pipeline, direction)) ?? [])
      .filter((s) => s.atMs > since)
      .map((s) => ({ at: new Date(s.atMs).toISOString(), lagSeconds: round(s.lagSeconds) }));
  }
}

const keyOf = (pipeline: string, direction: Direction) => `${direction}\u0000${pipeline}`;
const round = (n: number) => Math.round(n * 1000) / 1000;
