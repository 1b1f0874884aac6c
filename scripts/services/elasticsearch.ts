// Elasticsearch as a managed single-node test server.
//
// Layout under .services/elasticsearch/:
//   elasticsearch-<version>/   the unpacked integ-test-zip distribution (config/ rewritten per launch)
//   data/, logs/, tmp/         path.data, path.logs and ES_TMPDIR
//   logs/cesync.log            server log (named after cluster.name); logs/startup.log: launcher output
//   elasticsearch.pid          written by the server itself (-p), removed by it on clean shutdown
// The integ-test-zip is the one Elasticsearch distribution on Maven Central: the real server with a
// reduced module set (no reindex, painless, analysis-common; `GET /` answers 405). Readiness is
// therefore checked with `GET /_cluster/health`.
//
// Elasticsearch refuses to run as root. As root the whole folder is given to an unprivileged system
// user (CESYNC_ES_USER, default cesync-es) and the launcher runs under `runuser`.
import fs from 'node:fs';
import path from 'node:path';
import { elasticsearchConfig as config, host } from './config.ts';
import { findJdk } from './jdk.ts';
import { getArtifact } from './maven.ts';
import { serviceDir } from './paths.ts';
import { livePid, readPid, run, runChecked, terminate } from './proc.ts';
import type { Service } from './service.ts';
import { chownTree, ensureSystemUser, isRoot } from './unix-user.ts';

const base = serviceDir('elasticsearch');
const home = path.join(base, `elasticsearch-${config.version}`);
const dataDir = path.join(base, 'data');
const logDir = path.join(base, 'logs');
const tmpDir = path.join(base, 'tmp');
const pidFile = path.join(base, 'elasticsearch.pid');
const clusterName = 'cesync';
const serverLog = path.join(logDir, `${clusterName}.log`);
const startupLog = path.join(logDir, 'startup.log');
const url = `http://${host}:${config.port}`;

function elasticsearchYml(): string {
  return `# Written by scripts/services/elasticsearch.ts at every start; edits here are overwritten.
cluster.name: ${clusterName}
node.name: cesync-test
# Loopback only: also keeps the node in development mode (no bootstrap checks such as vm.max_map_count).
network.host: ${host}
http.port: ${config.port}
transport.port: ${config.transportPort}
discovery.type: single-node
xpack.security.enabled: false
path.data: ${dataDir}
path.logs: ${logDir}
# Tests delete indices by wildcard.
action.destructive_requires_name: false
# A nearly full disk on a developer machine must not turn test indices read-only or unassigned.
cluster.routing.allocation.disk.threshold_enabled: false
`;
}

async function getJson(pathname: string): Promise<unknown> {
  const response = await fetch(`${url}${pathname}`, { signal: AbortSignal.timeout(3000) });
  if (response.status !== 200) throw new Error(`GET ${pathname}: HTTP ${response.status}`);
  return response.json();
}

/** Version of the node answering on the HTTP port (GET / is not available on this distribution). */
async function nodeVersion(): Promise<string | undefined> {
  const body = (await getJson('/_nodes/_local?filter_path=nodes.*.version')) as {
    nodes?: Record<string, { version?: string }>;
  };
  return Object.values(body.nodes ?? {})[0]?.version;
}

export const elasticsearch: Service = {
  name: 'elasticsearch',
  endpoint: url,
  host,
  port: config.port,
  version: config.version,
  readyTimeoutMs: config.readyTimeoutMs,
  logFiles: [serverLog, startupLog],

  installed(): boolean {
    return fs.existsSync(path.join(home, 'bin', 'elasticsearch'));
  },

  async install(): Promise<void> {
    if (this.installed()) return;
    const zip = await getArtifact(`org.elasticsearch.distribution.integ-test-zip:elasticsearch:${config.version}:zip`);
    // Unpack beside the final folder and move it into place, so a half-unpacked tree never counts
    // as installed.
    const staging = path.join(base, '.unpack');
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    await runChecked('unzip', ['-q', zip, '-d', staging]);
    const unpacked = path.join(staging, `elasticsearch-${config.version}`);
    if (!fs.existsSync(unpacked)) throw new Error(`${zip} did not contain elasticsearch-${config.version}/`);
    fs.rmSync(home, { recursive: true, force: true });
    fs.renameSync(unpacked, home);
    fs.rmSync(staging, { recursive: true, force: true });
  },

  pid(): number | undefined {
    return livePid(pidFile, 'org.elasticsearch');
  },

  async probe(): Promise<string | undefined> {
    try {
      const health = (await getJson('/_cluster/health')) as { status?: string };
      if (health.status !== 'green' && health.status !== 'yellow') return undefined;
      return (await nodeVersion()) ?? config.version;
    } catch {
      return undefined;
    }
  },

  async launch(): Promise<number> {
    const javaHome = findJdk(config.javaMajor);
    for (const dir of [dataDir, logDir, tmpDir]) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(home, 'config', 'elasticsearch.yml'), elasticsearchYml());
    fs.rmSync(pidFile, { force: true });
    const env = [
      `ES_JAVA_HOME=${javaHome}`,
      `ES_JAVA_OPTS=-Xms${config.heap} -Xmx${config.heap}`,
      `ES_TMPDIR=${tmpDir}`,
      `HOME=${base}`,
    ];
    const command = ['env', ...env, path.join(home, 'bin', 'elasticsearch'), '-d', '-p', pidFile];
    let argv: string[];
    if (isRoot()) {
      await ensureSystemUser(config.user);
      // The server writes its keystore into config/, and its data, logs and pid file: all its own.
      await chownTree(base, config.user);
      argv = ['runuser', '-u', config.user, '--', ...command];
    } else {
      argv = command;
    }
    // With -d the launcher returns once the node has started (or failed to), leaving the server
    // running in the background with its pid in pidFile.
    const [cmd, ...args] = argv as [string, ...string[]];
    const result = await run(cmd, args, { cwd: home, timeoutMs: config.readyTimeoutMs, detached: true });
    fs.writeFileSync(startupLog, `$ ${argv.join(' ')}\n${result.stdout}${result.stderr}`);
    const pid = readPid(pidFile);
    if (result.code !== 0 || pid === undefined) {
      if (pid !== undefined) await terminate(pid);
      throw new Error(
        `elasticsearch launcher ${result.signal ? `was killed (${result.signal})` : `exited with ${result.code}`}` +
          (pid === undefined ? ' without writing a pid file' : ''),
      );
    }
    return pid;
  },

  cleanup(): void {
    fs.rmSync(pidFile, { force: true });
  },
};
