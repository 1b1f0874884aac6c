// Process, pid-file, port and waiting helpers shared by the service modules.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

/** Progress messages go to stderr so that stdout stays free for command results. */
export function log(message: string): void {
  process.stderr.write(`[services] ${message}\n`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /**
   * Run in a new session (setsid). Needed for launchers that leave a server behind: otherwise the
   * server shares the caller's process group and dies with it on Ctrl-C in a terminal.
   */
  detached?: boolean;
  /** Text written to the command's stdin, which is then closed (without it: closed at once, empty). */
  input?: string;
}

/**
 * Runs a command to completion and captures its output. Rejects only when the command cannot be
 * spawned; a non-zero exit is reported in the result (see `runChecked` for the throwing variant).
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      detached: options.detached ?? false,
    });
    // A command that exits without reading its input must not turn into an EPIPE error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Like `run`, but throws (with the command's output) unless it exits with status 0. */
export async function runChecked(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  let result: RunResult;
  try {
    result = await run(command, args, options);
  } catch (error) {
    throw new Error(`cannot run ${command}: ${(error as Error).message}`, { cause: error });
  }
  if (result.code !== 0) {
    const output = `${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.signal ?? `exit ${String(result.code)}`})${output ? `:\n${output}` : ''}`,
    );
  }
  return result;
}

export interface LauncherResult {
  /** The launcher's pid: also the id of the session it and everything it started run in. */
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs a launcher that leaves a server behind (daemon mode) in a new session, its stdout and
 * stderr appended to `logFile` after a `$ command` line. A file, not a pipe: the server inherits
 * them, and a pipe it keeps open (Elasticsearch 7 and OpenSearch keep theirs) would hold back the
 * end of the output forever. Resolves when the launcher itself exits (or is killed at `timeoutMs`).
 */
export function runLauncher(
  command: string,
  args: readonly string[],
  options: { cwd: string; logFile: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<LauncherResult> {
  fs.writeFileSync(options.logFile, `$ ${[command, ...args].join(' ')}\n`);
  const out = fs.openSync(options.logFile, 'a');
  try {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ['ignore', out, out],
        timeout: options.timeoutMs,
        detached: true,
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve({ pid: child.pid ?? 0, code, signal }));
    });
  } finally {
    // The child has its own copy of the descriptor.
    fs.closeSync(out);
  }
}

/**
 * True when some live process belongs to session `sid` (Linux /proc; false where it is missing).
 * A launcher started by `runLauncher` leads its own session, and the server it forks stays in it,
 * so this says whether the server is still alive before it has written its pid file.
 */
export function sessionAlive(sid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return false;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid && fields[0] !== 'Z') return true;
  }
  return false;
}

/** True when a process with this pid exists (signal 0 probes without delivering anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Command line of a live process (Linux /proc), or undefined when unavailable. Used to make sure a
 * pid read from a pid file still belongs to the server and was not reused by an unrelated process.
 */
export function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return undefined;
  }
}

/** Pid stored in `file`, or undefined when the file is missing or does not hold a pid. */
export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
  const pid = Number(text);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Pid from `file` if that process is alive and (where /proc is available) its command line contains
 * `marker`; otherwise the stale pid file is removed and undefined is returned.
 */
export function livePid(file: string, marker: string): number | undefined {
  const pid = readPid(file);
  if (pid === undefined) return undefined;
  if (isAlive(pid)) {
    const cmd = commandLine(pid);
    if (cmd === undefined || cmd.includes(marker)) return pid;
  }
  fs.rmSync(file, { force: true });
  return undefined;
}

/**
 * Stops a process: SIGTERM (to its process group when it leads one, so helper children go too),
 * waits up to `timeoutMs`, then SIGKILL. Resolves once it is gone.
 */
export async function terminate(pid: number, timeoutMs = 30_000): Promise<'terminated' | 'killed' | 'gone'> {
  if (!isAlive(pid)) return 'gone';
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'terminated';
    await sleep(200);
  }
  signal(pid, 'SIGKILL');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  return 'killed';
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
    return;
  } catch {
    // Not a process-group leader: signal the process alone.
  }
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** SIGKILL to every process of process group `pgid` (ignored when there is none left). */
export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // Nothing left in it.
  }
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => {
      done(false);
    });
    socket.once('connect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/**
 * Polls `probe` until it returns true, `stillRunning` returns false (the server died: stop early),
 * or `timeoutMs` elapses. Returns the outcome instead of throwing so callers can add their logs.
 */
export async function waitUntil(
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; stillRunning?: () => boolean },
): Promise<'ready' | 'timeout' | 'died'> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (await probe()) return 'ready';
    if (options.stillRunning && !options.stillRunning()) return 'died';
    if (Date.now() >= deadline) return 'timeout';
    await sleep(options.intervalMs ?? 1000);
  }
}

/** Last `lines` lines of a text file ('' when it does not exist). Reads at most the last 64 KiB. */
export function tail(file: string, lines = 40): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } finally {
    fs.closeSync(fd);
  }
}

/** Error for a server that did not come up: names it, says why, and shows the end of its log. */
export function startupError(service: string, reason: string, logFile: string): Error {
  const lines = tail(logFile);
  return new Error(
    `${service} did not come up: ${reason}.\n` +
      (lines ? `Last lines of ${logFile}:\n${lines}` : `(no log at ${logFile})`),
  );
}
