// Running the built CLI as a user's system would: in the background, stopped by a signal at a
// chosen moment, with its exit code and output kept.
import { spawn } from 'node:child_process';
import { testEnv } from '../integration/harness.js';

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Running {
  readonly pid: number;
  readonly done: Promise<Finished>;
  /** Whether the process has exited. */
  exited(): boolean;
  kill(signal: NodeJS.Signals): void;
}

export function start(args: readonly string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, ['bin/cesync.js', ...args], {
    env: { ...process.env, ...testEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      exited = true;
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { pid: child.pid!, done, exited: () => exited, kill: (s) => void (exited || child.kill(s)) };
}

/** A seeded pseudo-random generator (mulberry32): runs are repeatable from the seed they print. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the command and stops it with `signal` once `ready()` holds (something the test observes:
 * progress saved, a count reached) and a further `delayMs` has passed. Returns how it ended,
 * whether the signal was sent (`sent`), and whether it stopped the command (`stopped`): a command
 * that still ended with exit code 0 had finished its work by the time the signal arrived.
 */
export async function runAndStop(
  args: readonly string[],
  signal: NodeJS.Signals,
  delayMs: number,
  ready: () => Promise<boolean> = async () => true,
): Promise<Finished & { sent: boolean; stopped: boolean }> {
  const run = start(args);
  while (!run.exited() && !(await ready())) await sleep(50);
  const deadline = Date.now() + delayMs;
  while (!run.exited() && Date.now() < deadline) await sleep(Math.min(25, deadline - Date.now()));
  const sent = !run.exited();
  if (sent) run.kill(signal);
  const res = await run.done;
  return { ...res, sent, stopped: sent && !(res.code === 0 && res.signal === null) };
}
