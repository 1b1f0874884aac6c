// CPU accounting of one measured step: the servers' CPU time (from /proc, with their child
// processes), the benchmark process's own, and wall-clock time.
import { treeCpuSeconds } from './proc.ts';

export interface ServerPids {
  cassandra?: number;
  elasticsearch?: number;
}

export interface CpuUse {
  cassandra?: number;
  elasticsearch?: number;
}

export function serverCpu(pids: ServerPids): CpuUse {
  return {
    cassandra: pids.cassandra === undefined ? undefined : treeCpuSeconds(pids.cassandra),
    elasticsearch: pids.elasticsearch === undefined ? undefined : treeCpuSeconds(pids.elasticsearch),
  };
}

export function cpuDelta(before: CpuUse, after: CpuUse): CpuUse {
  const d = (a?: number, b?: number) => (a === undefined || b === undefined ? undefined : b - a);
  return { cassandra: d(before.cassandra, after.cassandra), elasticsearch: d(before.elasticsearch, after.elasticsearch) };
}

export interface InProcessMeasurement<T> {
  result: T;
  seconds: number;
  /** CPU seconds of this (benchmark) process during the step. */
  selfCpu: number;
  servers: CpuUse;
}

/** Runs `step` in this process and measures it. */
export async function measure<T>(pids: ServerPids, step: () => Promise<T>): Promise<InProcessMeasurement<T>> {
  const cpu0 = process.cpuUsage();
  const servers0 = serverCpu(pids);
  const t0 = performance.now();
  const result = await step();
  const seconds = (performance.now() - t0) / 1000;
  const servers = cpuDelta(servers0, serverCpu(pids));
  const cpu = process.cpuUsage(cpu0);
  return { result, seconds, selfCpu: (cpu.user + cpu.system) / 1e6, servers };
}
