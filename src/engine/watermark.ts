/** Order of (version, id) positions in a change stream; see `Watermark` in ports.ts. */
import type { Watermark } from './ports.js';

export const START: Watermark = Object.freeze({ version: 0, id: '' });

/** Negative when a is before b, 0 when equal, positive after. */
export function compareMarks(a: Watermark, b: Watermark): number {
  if (a.version !== b.version) return a.version < b.version ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export const isAfter = (m: Watermark, from: Watermark): boolean => compareMarks(m, from) > 0;

export const laterOf = (a: Watermark, b: Watermark): Watermark => (compareMarks(a, b) >= 0 ? a : b);

/** A run over a window of a change stream, in either direction. */
export interface WindowRunOptions {
  readonly pipeline: string;
  readonly index: string;
  /** Start of the window (see each direction for whether it is inclusive). */
  readonly from: Watermark;
  /** Inclusive end of the window, microseconds. */
  readonly to: number;
  /** Save the watermark as batches are acknowledged (runs "since last"). */
  readonly saveWatermark: boolean;
  /** Changes read and written per batch (one watermark step). */
  readonly batchSize: number;
  readonly failureLedgerPath?: string;
  readonly signal?: AbortSignal;
}
