// What a managed server looks like to the generic start/stop/status logic (lifecycle.ts).
//
// Each server module implements this interface with its own fetch, configuration, launch and
// readiness probe (cassandra.ts, kafka.ts; the search servers through search-server.ts, configured
// in elasticsearch.ts, opensearch.ts and elasticsearch-secure.ts); everything else is shared. A server the
// machine runs itself (postgres.ts) is a MachineService instead: checked and set up, never
// fetched, launched or stopped.
import type { ServiceName } from './config.ts';

export interface Service {
  readonly name: ServiceName;
  /** Human-readable address clients use, e.g. `127.0.0.1:9042` or `http://127.0.0.1:9200`. */
  readonly endpoint: string;
  readonly host: string;
  readonly port: number;
  /** Version that `install` fetches and `launch` runs. */
  readonly version: string;
  readonly readyTimeoutMs: number;
  /** Logs worth showing when the server does not come up, most telling first. */
  readonly logFiles: readonly string[];
  /** True when the configured version is already fetched and unpacked (no download needed). */
  installed(): boolean;
  /** Fetches and unpacks the configured version. Idempotent; a no-op when `installed()`. */
  install(): Promise<void>;
  /** Pid of the server these scripts started, if it is still alive (stale pid files are removed). */
  pid(): number | undefined;
  /**
   * One readiness probe: resolves to the server's reported version when it accepts clients the way
   * tests need (CQL login; cluster health yellow or green; Kafka metadata listing the broker),
   * undefined otherwise. Never throws.
   */
  probe(): Promise<string | undefined>;
  /** Writes the configuration and starts the server in the background; resolves to its pid. */
  launch(): Promise<number>;
  /** Called after the server process is gone, to clear pid files and similar leftovers. */
  cleanup(): void;
}

/**
 * A server these scripts neither fetch, start nor stop (PostgreSQL: the machine's own). They make
 * sure it is usable by the project and say how to get one when none answers.
 */
export interface MachineService {
  readonly name: ServiceName;
  readonly machine: true;
  /** Human-readable address clients use (never with a password). */
  readonly endpoint: string;
  /** One probe: the server's reported version when it answers, undefined otherwise. Never throws. */
  probe(): Promise<string | undefined>;
  /**
   * Makes the server usable by clients (its role and database exist and a login works) and
   * resolves to its version. Idempotent and safe when two callers race. Throws an error that says
   * what was tried and what to do when no server answers or it refuses.
   */
  ensure(): Promise<string>;
}

export type AnyService = Service | MachineService;

export function isMachineService(service: AnyService): service is MachineService {
  return 'machine' in service;
}

export type ServiceState = 'running' | 'starting' | 'stopped' | 'external' | 'unreachable';

export interface ServiceStatus {
  name: ServiceName;
  /**
   * running: started by these scripts and answering; starting: our process is alive but not ready;
   * stopped: nothing answers; external: the endpoint answers but was not started by these scripts.
   * The machine's own servers (MachineService) are running (answering) or unreachable.
   */
  state: ServiceState;
  pid?: number;
  endpoint: string;
  /** Version reported by the live server, else the configured one ('-' for an unreachable machine server). */
  version: string;
  /** Whether the configured version is already downloaded (always true for the machine's own servers). */
  installed: boolean;
}
