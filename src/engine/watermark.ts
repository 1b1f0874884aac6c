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
