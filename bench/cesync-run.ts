// Runs the real CLI (`node bin/cesync.js ...`) in a child process and measures it: wall time, its
// own CPU time and peak RSS (from its resource usage, written at exit by child-usage.ts), its RSS
// over time (sampled from /proc every 100 ms), and the servers' CPU time meanwhile.
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { repoRoot } from './cesync-modules.ts';
import { cpuDelta, serverCpu, type CpuUse, type ServerPids } from './measure.ts';
import { memory, treeCpuSeconds } from './proc.ts';

export interface CliReport {
  read: number;
  indexed: number;
  unchanged: number;
  failed: number;
  missing?: number;
  durationMs: number;
  rowsPerSecond: number;
}

export interface CliRun {
  exitCode: number;
  report: CliReport;
  wallSeconds: number;
  /** cesync's user + system CPU seconds. */
  cpuSeconds: number;
  peakRssBytes: number;
  peakHeapUsedBytes: number;
  /** [seconds since start, RSS bytes], every 100 ms. */
  rssTimeline: [number, number][];
  servers: CpuUse;
}

export interface CliOptions {
  args: string[];
  workDir: string;
  env: Record<string, string>;
  pids: ServerPids;
  /** Extra flags for node itself (e.g. --cpu-prof, --max-semi-space-size). */
  nodeFlags?: string[];
}

export async function runCli(options: CliOptions): Promise<CliRun> {
  const usageFile = path.join(options.workDir, `usage-${process.pid}-${Date.now()}.json`);
  const args = [
    '--import',
    path.join(repoRoot, 'bench', 'child-usage.ts'),
    ...(options.nodeFlags ?? []),
    path.join(repoRoot, 'bin', 'cesync.js'),
    ...options.args,
  ];
  const servers0 = serverCpu(options.pids);
  const t0 = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: options.workDir,
    env: { ...process.env, ...options.env, CESYNC_BENCH_USAGE: usageFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const timeline: [number, number][] = [];
  let lastCpu = 0;
  const sample = () => {
    if (child.pid === undefined) return;
    const mem = memory(child.pid);
    if (mem) timeline.push([(performance.now() - t0) / 1000, mem.rss]);
    lastCpu = treeCpuSeconds(child.pid) ?? lastCpu;
  };
  const timer = setInterval(sample, 100);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  clearInterval(timer);
  const wallSeconds = (performance.now() - t0) / 1000;
  const servers = cpuDelta(servers0, serverCpu(options.pids));
  if (exitCode !== 0) throw new Error(`cesync ${options.args.join(' ')} exited with ${exitCode}\n${stderr.slice(-4000)}`);
  const usage = JSON.parse(await readFile(usageFile, 'utf8')) as {
    userCpuSeconds: number;
    systemCpuSeconds: number;
    maxRssBytes: number;
    peakHeapUsedBytes: number;
  };
  await rm(usageFile, { force: true });
  const report = (JSON.parse(stdout) as { reports: CliReport[] }).reports[0]!;
  return {
    exitCode,
    report,
    wallSeconds,
    cpuSeconds: Math.max(usage.userCpuSeconds + usage.systemCpuSeconds, lastCpu),
    peakRssBytes: usage.maxRssBytes,
    peakHeapUsedBytes: usage.peakHeapUsedBytes,
    rssTimeline: timeline,
    servers,
  };
}

/** Peak RSS reached by the time `fraction` of the run had passed (from the timeline). */
export function peakRssUntil(run: CliRun, fraction: number): number | undefined {
  const until = run.wallSeconds * fraction;
  const seen = run.rssTimeline.filter(([t]) => t <= until).map(([, rss]) => rss);
  return seen.length > 0 ? Math.max(...seen) : undefined;
}
