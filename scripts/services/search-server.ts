// One Elasticsearch or OpenSearch node as a managed test server, configured from a spec.
//
// Every search server (Elasticsearch 8 and 7, OpenSearch 2 and 3, Elasticsearch with security on)
// is the same thing underneath: an integ-test zip from Maven Central, unpacked, given a yml file,
// started with its launcher in daemon mode (-d -p PIDFILE) as an unprivileged user, and ready when
// GET /_cluster/health says yellow or green. A spec (elasticsearch.ts, opensearch.ts,
// elasticsearch-secure.ts) says what differs: product, version, ports, Java, extra settings, a
// preparation step (keystores) and how the probe authenticates.
//
// Layout under .services/<name>/:
//   <distFolder>/              the unpacked distribution (config/<kind>.yml rewritten per launch)
//   data/, logs/, tmp/         path.data, path.logs and the launcher's temp dir
//   logs/cesync.log            server log (named after cluster.name); logs/startup.log: launcher output
//   <kind>.pid                 written by the server itself (-p), removed by it on clean shutdown
// Elasticsearch and OpenSearch refuse to run as root. As root the whole folder is given to an
// unprivileged system user (CESYNC_ES_USER, default cesync-es) and the launcher runs under runuser.
import fs from 'node:fs';
import path from 'node:path';
import { host } from './config.ts';
import type { SearchServerConfig, ServiceName } from './config.ts';
import { getJson } from './http-json.ts';
import type { HttpClientOptions } from './http-json.ts';
import { findJdk } from './jdk.ts';
import { getArtifact } from './maven.ts';
import { serviceDir } from './paths.ts';
import { killGroup, livePid, readPid, runChecked, runLauncher, sessionAlive, sleep, terminate } from './proc.ts';
import type { Service } from './service.ts';
import { chownTree, ensureSystemUser, isRoot } from './unix-user.ts';

export type SearchKind = 'elasticsearch' | 'opensearch';

/** What the two products' distributions name differently (OpenSearch renamed what it forked). */
interface Flavor {
  /** Launcher and config file, relative to the distribution's folder. */
  launcher: string;
  configFile: string;
  /** Environment variables the launcher reads: JDK, JVM options, temp dir. */
  javaHomeEnv: string;
  javaOptsEnv: string;
  tmpDirEnv: string;
  /** Found in the server's command line: a pid from the pid file that lacks it was reused. */
  processMarker: string;
}

const flavors: Record<SearchKind, Flavor> = {
  elasticsearch: {
    launcher: 'bin/elasticsearch',
    configFile: 'config/elasticsearch.yml',
    javaHomeEnv: 'ES_JAVA_HOME',
    javaOptsEnv: 'ES_JAVA_OPTS',
    tmpDirEnv: 'ES_TMPDIR',
    processMarker: 'org.elasticsearch',
  },
  opensearch: {
    launcher: 'bin/opensearch',
    configFile: 'config/opensearch.yml',
    javaHomeEnv: 'OPENSEARCH_JAVA_HOME',
    javaOptsEnv: 'OPENSEARCH_JAVA_OPTS',
    tmpDirEnv: 'OPENSEARCH_TMPDIR',
    processMarker: 'org.opensearch',
  },
};

/** Handed to a spec's `prepare`: where the distribution is and the environment its tools need. */
export interface PrepareContext {
  /** The unpacked distribution (its config/ folder is where keystores go). */
  home: string;
  /** JDK home, JVM temp dir and HOME, as the launcher gets them (without the heap options). */
  env: Record<string, string>;
}

export interface SearchServerSpec {
  name: ServiceName;
  kind: SearchKind;
  config: SearchServerConfig;
  /** Maven coordinates of the integ-test zip, groupId:artifactId:version:zip. */
  artifact: string;
  /** The zip's top-level folder (checked when unpacking), e.g. opensearch-2.19.6. */
  distFolder: string;
  scheme: 'http' | 'https';
  /** yml lines appended to the common settings (security switches, TLS). */
  settings: string;
  /**
   * Runs at every launch after the yml is written and before the folder is handed to the server's
   * user (so what it writes becomes the server's): keystores and the files they point at.
   */
  prepare?: (context: PrepareContext) => Promise<void>;
  /** CA and credentials for the probe's requests; undefined while they cannot exist yet. */
  client?: () => HttpClientOptions | undefined;
}

/** A search server as the lifecycle sees it, plus what clients need to pick a client library. */
export interface SearchService extends Service {
  readonly kind: SearchKind;
  /** Major version of the configured server (the JS clients' compatibility headers depend on it). */
  readonly major: number;
}

const clusterName = 'cesync';

export function searchServer(spec: SearchServerSpec): SearchService {
  const { config } = spec;
  const flavor = flavors[spec.kind];
  const base = serviceDir(spec.name);
  const home = path.join(base, spec.distFolder);
  const dataDir = path.join(base, 'data');
  const logDir = path.join(base, 'logs');
  const tmpDir = path.join(base, 'tmp');
  const pidFile = path.join(base, `${spec.kind}.pid`);
  const serverLog = path.join(logDir, `${clusterName}.log`);
  const startupLog = path.join(logDir, 'startup.log');
  const url = `${spec.scheme}://${host}:${config.port}`;

  const yml = (): string => `# Written by scripts/services/search-server.ts (${spec.name}) at every start; edits here are overwritten.
cluster.name: ${clusterName}
node.name: cesync-test
# Loopback only: also keeps the node in development mode (no bootstrap checks such as vm.max_map_count).
network.host: ${host}
http.port: ${config.port}
transport.port: ${config.transportPort}
discovery.type: single-node
path.data: ${dataDir}
path.logs: ${logDir}
# Tests delete indices by wildcard.
action.destructive_requires_name: false
# A nearly full disk on a developer machine must not turn test indices read-only or unassigned.
cluster.routing.allocation.disk.threshold_enabled: false
${spec.settings}`;

  const get = (pathname: string, client: HttpClientOptions): Promise<unknown> => getJson(`${url}${pathname}`, client);

  return {
    name: spec.name,
    kind: spec.kind,
    major: Number(config.version.split('.')[0]),
    endpoint: url,
    host,
    port: config.port,
    version: config.version,
    readyTimeoutMs: config.readyTimeoutMs,
    logFiles: [serverLog, startupLog],

    installed(): boolean {
      return fs.existsSync(path.join(home, flavor.launcher));
    },

    async install(): Promise<void> {
      if (this.installed()) return;
      const zip = await getArtifact(spec.artifact);
      // Unpack beside the final folder and move it into place, so a half-unpacked tree never
      // counts as installed.
      const staging = path.join(base, '.unpack');
      fs.rmSync(staging, { recursive: true, force: true });
      fs.mkdirSync(staging, { recursive: true });
      await runChecked('unzip', ['-q', zip, '-d', staging]);
      const unpacked = path.join(staging, spec.distFolder);
      if (!fs.existsSync(unpacked)) throw new Error(`${zip} did not contain ${spec.distFolder}/`);
      fs.rmSync(home, { recursive: true, force: true });
      fs.renameSync(unpacked, home);
      fs.rmSync(staging, { recursive: true, force: true });
    },

    pid(): number | undefined {
      return livePid(pidFile, flavor.processMarker);
    },

    async probe(): Promise<string | undefined> {
      const client = spec.client ? spec.client() : {};
      if (client === undefined) return undefined;
      try {
        const health = (await get('/_cluster/health', client)) as { status?: string };
        if (health.status !== 'green' && health.status !== 'yellow') return undefined;
        // The node's own version: GET / would do on most, but not on the Elasticsearch 8
        // integ-test zip (405); this works on all of them.
        const nodes = (await get('/_nodes/_local?filter_path=nodes.*.version', client)) as {
          nodes?: Record<string, { version?: string }>;
        };
        return Object.values(nodes.nodes ?? {})[0]?.version ?? config.version;
      } catch {
        return undefined;
      }
    },

    async launch(): Promise<number> {
      const javaHome = findJdk(config.javaMajor, config.javaAtLeast);
      for (const dir of [dataDir, logDir, tmpDir]) fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(home, flavor.configFile), yml());
      const env = { [flavor.javaHomeEnv]: javaHome, [flavor.tmpDirEnv]: tmpDir, HOME: base };
      await spec.prepare?.({ home, env });
      fs.rmSync(pidFile, { force: true });
      const assignments = Object.entries({ ...env, [flavor.javaOptsEnv]: `-Xms${config.heap} -Xmx${config.heap}` });
      const command = ['env', ...assignments.map(([k, v]) => `${k}=${v}`), path.join(home, flavor.launcher), '-d', '-p', pidFile];
      let argv: string[];
      if (isRoot()) {
        await ensureSystemUser(config.user);
        // The server writes its keystore into config/, and its data, logs and pid file: all its own.
        await chownTree(base, config.user);
        argv = ['runuser', '-u', config.user, '--', ...command];
      } else {
        argv = command;
      }
      // With -d the launcher returns once the node has started (Elasticsearch 8) or right after
      // forking it (Elasticsearch 7, OpenSearch), leaving the server running in the background in
      // the launcher's session. The server writes its pid to pidFile during startup, which can take
      // a while (OpenSearch 3: over 10 s): wait for it as long as the session has a live process.
      const [cmd, ...args] = argv as [string, ...string[]];
      const startedAt = Date.now();
      const result = await runLauncher(cmd, args, { cwd: home, logFile: startupLog, timeoutMs: config.readyTimeoutMs });
      let pid = readPid(pidFile);
      while (result.code === 0 && pid === undefined && sessionAlive(result.pid) && Date.now() - startedAt < config.readyTimeoutMs) {
        await sleep(200);
        pid = readPid(pidFile);
      }
      if (result.code !== 0 || pid === undefined) {
        if (pid !== undefined) await terminate(pid);
        // A server that never wrote its pid file is still in the launcher's process group.
        else killGroup(result.pid);
        throw new Error(
          `${spec.name} launcher ${result.signal ? `was killed (${result.signal})` : `exited with ${String(result.code)}`}` +
            (pid === undefined ? ' without writing a pid file' : ''),
        );
      }
      return pid;
    },

    cleanup(): void {
      fs.rmSync(pidFile, { force: true });
    },
  };
}
