// Reading CPU time and memory of processes from /proc (Linux). Every reader returns undefined
// instead of throwing when a process is gone or /proc is not there.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (CLK_TCK, 100 on nearly every Linux). */
export function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface Stat {
  ppid: number;
  /** utime + stime of the process (all its threads), seconds. */
  cpuSeconds: number;
}

function stat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields count from the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { ppid, cpuSeconds: (utime + stime) / ticksPerSecond() };
}

/** The pid and every descendant of it that is alive now. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return [pid];
  }
  for (const e of entries) {
    const s = stat(Number(e));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(e));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds used so far by a process and its descendants, or undefined if it is gone. */
export function treeCpuSeconds(pid: number): number | undefined {
  const own = stat(pid);
  if (!own) return undefined;
  return processTree(pid).reduce((sum, p) => sum + (p === pid ? own.cpuSeconds : (stat(p)?.cpuSeconds ?? 0)), 0);
}

/** VmRSS and VmHWM (peak) of a process in bytes. */
export function memory(pid: number): { rss: number; peak: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  const rss = kb('VmRSS');
  return Number.isFinite(rss) ? { rss, peak: kb('VmHWM') } : undefined;
}

/**
 * Pid of the process listening on a local TCP port (for servers not started by the service
 * scripts): the socket inode from /proc/net/tcp, then the process holding it.
 */
export function pidListeningOn(port: number): number | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT"; state 0A is LISTEN; column 9 is the inode.
      if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A' && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${e}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = readlinkSafe(`/proc/${e}/fd/${fd}`);
        const m = /^socket:\[(\d+)\]$/.exec(link ?? '');
        if (m && inodes.has(m[1]!)) return Number(e);
      } catch {
        // raced with the fd closing
      }
    }
  }
  return undefined;
}

function readlinkSafe(p: string): string | undefined {
  try {
    return readlinkSync(p);
  } catch {
    return undefined;
  }
}
