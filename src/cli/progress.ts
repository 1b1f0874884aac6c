/**
 * A progress bar on the terminal: rows read, rows/s, ETA when the total is known. Silent when
 * stderr is not a terminal or with --quiet.
 */
import cliProgress from 'cli-progress';
import type { RunCounters } from '../engine/run-report.js';

export interface ProgressView {
  update(counters: Readonly<Pick<RunCounters, 'read'> & Partial<RunCounters>>, total: number | undefined): void;
  stop(): void;
}

const silent: ProgressView = { update() {}, stop() {} };

export function createProgress(label: string, enabled: boolean): ProgressView {
  if (!enabled) return silent;
  const started = Date.now();
  let bar: cliProgress.SingleBar | undefined;
  return {
    update(c, total) {
      const elapsed = Math.max(1, Date.now() - started) / 1000;
      const rate = Math.round(c.read / elapsed);
      // The estimate may be low: never let the bar overflow, grow it instead.
      const max = total !== undefined ? Math.max(total, c.read) : 0;
      const payload = { rate, label, indexed: c.indexed ?? 0, unchanged: c.unchanged ?? 0, failed: c.failed ?? 0 };
      if (!bar) {
        const format =
          total !== undefined
            ? '{label} [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta_formatted} | indexed {indexed} unchanged {unchanged} failed {failed}'
            : '{label} {value} rows | {rate} rows/s | indexed {indexed} unchanged {unchanged} failed {failed}';
        bar = new cliProgress.SingleBar(
          { format, stream: process.stderr, hideCursor: true, etaBuffer: 50, fps: 5 },
          cliProgress.Presets.shades_classic,
        );
        bar.start(max, c.read, payload);
      } else {
        if (total !== undefined) bar.setTotal(max);
        bar.update(c.read, payload);
      }
    },
    stop() {
      bar?.stop();
    },
  };
}
