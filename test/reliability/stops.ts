// What the stop-point suites share: random stop points, what a stopped run may end with, and
// how the stops of a case are counted for the results table.
import { expect } from 'vitest';
import type { Finished } from './cli.js';

/** A random stop: SIGTERM or SIGKILL, at a random moment of a run of about `runSeconds`. */
export function stopPoint(i: number, rnd: () => number, runSeconds: number): { signal: NodeJS.Signals; delayMs: number } {
  return { signal: i % 2 === 0 ? 'SIGTERM' : 'SIGKILL', delayMs: Math.round(200 + rnd() * runSeconds * 1000) };
}

/**
 * What a stopped run may end with: finished (0), interrupted (4), or killed by kill -9. Never a
 * crash or a store error. A SIGTERM ends the process by the signal only where no JavaScript can
 * answer it: in the first milliseconds, before Node.js has run a line of cesync (then it printed
 * nothing at all), or in the last ones, while Node.js tears the process down after its work is
 * done (then its final report is out).
 */
export function expectCleanStop(r: Finished & { stopped: boolean }, signal: NodeJS.Signals): void {
  if (!r.stopped) expect(r.code, r.stderr).toBe(0);
  else if (signal === 'SIGKILL') expect(r.signal).toBe('SIGKILL');
  else if (r.signal === 'SIGTERM') expect(r.stdout + r.stderr === '' || finishedReport(r.stdout), `killed by SIGTERM only before it started or once its work was done:\n${r.stdout}\n${r.stderr}`).toBe(true);
  else expect([0, 4], r.stderr).toContain(r.code);
}

/** The summary line a sync or repair prints once it has finished: `NAME: read N, indexed N, ... in 1.8s (...)`. */
const finishedReport = (stdout: string): boolean => /^\S+: read \d+, indexed \d+, .* in [\d.]+m?s \(/m.test(stdout);

/** Stops that came before the command finished by itself. */
export const landed = (rs: readonly { stopped: boolean }[]): number => rs.filter((r) => r.stopped).length;

export function outcomes(rs: readonly (Finished & { stopped: boolean })[]): string {
  const term = rs.filter((r) => r.stopped && r.signal !== 'SIGKILL').length;
  const kill = rs.filter((r) => r.signal === 'SIGKILL').length;
  return `${term} SIGTERM + ${kill} kill -9 landed mid-run, ${rs.length - term - kill} finished first`;
}
