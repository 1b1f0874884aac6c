// Start, stop and status of one managed service, independent of which server it is.
import fs from 'node:fs';
import { isAlive, log, portOpen, seconds, tail, terminate, waitUntil } from './proc.ts';
import { isMachineService } from './service.ts';
import type { AnyService, MachineService, Service, ServiceStatus } from './service.ts';

export type StartOutcome = 'started' | 'already-running' | 'external';

/** Time allowed for a server to exit after SIGTERM before it is killed. */
const stopTimeoutMs = 30_000;

/** Modification time of `file` in ms, 0 when it does not exist. */
function modifiedAt(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * The error for a server that did not come up: names it, gives the reason, and shows the last 40
 * lines of each of its logs written since `since` (older logs belong to earlier runs and mislead).
 */
function failure(service: Service, reason: string, since = 0): Error {
  const sections = service.logFiles
    .filter((file) => modifiedAt(file) >= since)
    .map((file) => ({ file, lines: tail(file, 40) }))
    .filter((section) => section.lines !== '')
    .map((section) => `--- last lines of ${section.file} ---\n${section.lines}`);
  return new Error(
    `${service.name} did not come up on ${service.endpoint}: ${reason}` +
      (sections.length ? `\n${sections.join('\n')}` : ' (no log output)'),
  );
}

/**
 * Makes sure `service` answers on its endpoint. The machine's own servers are only checked and
 * set up ('external': never among the services a caller should stop again).
 * - Our server already running and ready: nothing is done ('already-running').
 * - Our server alive but not ready yet (e.g. started by a concurrent command): waits for it.
 * - No server of ours, but the endpoint answers: someone else's server is used as is ('external').
 * - Otherwise: fetches if needed, launches, waits until ready ('started'). If it does not become
 *   ready in time, the process that was launched is stopped and an error naming the service and
 *   showing the end of its logs is thrown.
 */
export async function startService(service: AnyService): Promise<StartOutcome> {
  if (isMachineService(service)) {
    const version = await service.ensure();
    log(`${service.name} ${version} ready on ${service.endpoint} (the machine's own server; these scripts never start or stop it)`);
    return 'external';
  }
  return startManaged(service);
}

async function startManaged(service: Service): Promise<StartOutcome> {
  const existing = service.pid();
  if (existing !== undefined) {
    if ((await service.probe()) !== undefined) {
      log(`${service.name} already running (pid ${existing}) on ${service.endpoint}`);
      return 'already-running';
    }
    log(`${service.name} (pid ${existing}) is up but not ready yet; waiting`);
    const outcome = await waitUntil(async () => (await service.probe()) !== undefined, {
      timeoutMs: service.readyTimeoutMs,
      stillRunning: () => isAlive(existing),
    });
    if (outcome === 'ready') return 'already-running';
    if (outcome === 'timeout') {
      throw failure(service, `pid ${existing} is running but not ready after ${seconds(service.readyTimeoutMs)}; stop it first`);
    }
    service.cleanup();
    // It died while we waited: fall through and start a fresh one.
  }

  if ((await service.probe()) !== undefined) {
    log(`${service.name} already answering on ${service.endpoint} (not started by these scripts; left alone)`);
    return 'external';
  }
  if (await portOpen(service.host, service.port)) {
    throw new Error(
      `${service.name}: port ${service.port} is in use by something that is not a ready ${service.name}; free it or choose another port`,
    );
  }

  if (!service.installed()) {
    log(`fetching ${service.name} ${service.version} from Maven Central`);
    const fetchStart = Date.now();
    await service.install();
    log(`fetched ${service.name} ${service.version} in ${seconds(Date.now() - fetchStart)}`);
  }

  log(`starting ${service.name} ${service.version} on ${service.endpoint}`);
  const startedAt = Date.now();
  let pid: number;
  try {
    pid = await service.launch();
  } catch (error) {
    throw failure(service, (error as Error).message, startedAt - 1000);
  }
  const outcome = await waitUntil(async () => (await service.probe()) !== undefined, {
    timeoutMs: Math.max(0, service.readyTimeoutMs - (Date.now() - startedAt)),
    stillRunning: () => isAlive(pid),
  });
  if (outcome !== 'ready') {
    const reason =
      outcome === 'died'
        ? `the process (pid ${pid}) exited during startup`
        : `not ready within ${seconds(service.readyTimeoutMs)}; stopped pid ${pid}`;
    await terminate(pid, stopTimeoutMs);
    service.cleanup();
    throw failure(service, reason, startedAt - 1000);
  }
  log(`${service.name} ready (pid ${pid}) in ${seconds(Date.now() - startedAt)}`);
  return 'started';
}

/**
 * Stops the server these scripts started (SIGTERM, then SIGKILL after 30 s) and removes its pid
 * file. Returns false when there was none running; servers not started by these scripts (the
 * machine's own included) are never touched.
 */
export async function stopService(service: AnyService): Promise<boolean> {
  if (isMachineService(service)) {
    log(`${service.name} is the machine's own server, not started by these scripts: left as it is`);
    return false;
  }
  const pid = service.pid();
  if (pid === undefined) {
    service.cleanup();
    log(`${service.name} is not running`);
    return false;
  }
  const startedAt = Date.now();
  const how = await terminate(pid, stopTimeoutMs);
  service.cleanup();
  log(`${service.name} (pid ${pid}) ${how === 'killed' ? 'killed after SIGTERM timed out' : 'stopped'} in ${seconds(Date.now() - startedAt)}`);
  return true;
}

export async function statusOf(service: AnyService): Promise<ServiceStatus> {
  if (isMachineService(service)) return machineStatus(service);
  const pid = service.pid();
  const liveVersion = await service.probe();
  const base = { name: service.name, endpoint: service.endpoint, installed: service.installed() };
  if (pid !== undefined) {
    return { ...base, state: liveVersion ? 'running' : 'starting', pid, version: liveVersion ?? service.version };
  }
  if (liveVersion) return { ...base, state: 'external', version: liveVersion };
  return { ...base, state: 'stopped', version: service.version };
}

async function machineStatus(service: MachineService): Promise<ServiceStatus> {
  const version = await service.probe();
  return { name: service.name, endpoint: service.endpoint, installed: true, state: version ? 'running' : 'unreachable', version: version ?? '-' };
}
