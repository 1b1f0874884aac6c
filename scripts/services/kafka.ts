// Apache Kafka as a managed single-node test server: KRaft mode, broker and controller in one JVM.
//
// Layout under .services/kafka/:
//   kafka-<version>/lib/   jars of org.apache.kafka:kafka_2.13 and its dependencies, plus a log4j2
//                          backend (Kafka leaves logging to the application)
//   fetch/pom.xml          throw-away pom used to resolve them
//   conf/                  server.properties and log4j2.properties, rewritten at every launch
//   data/                  log.dirs: topic partitions and the KRaft metadata log; formatted once,
//                          then reused by every launch (the ports may change in between: the node
//                          updates its own entry in the controller quorum)
//   logs/server.log        server log and JVM stdout/stderr (console appender), rewritten per launch
//   kafka.pid              pid of the detached JVM
// Maven Central has the jars, not the distribution with bin/kafka-server-start.sh, so the JVM is
// started directly with the flags those scripts would pass, detached so it outlives the calling
// script. SIGTERM (lifecycle.ts) runs Kafka's shutdown hook: a clean stop in a few seconds, and the
// next start on the same data keeps topics and committed offsets.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { host, kafkaConfig as config } from './config.ts';
import { findJdk } from './jdk.ts';
import { copyDependencies } from './maven.ts';
import { serviceDir } from './paths.ts';
import { livePid, portOpen, runChecked } from './proc.ts';
import type { Service } from './service.ts';

const base = serviceDir('kafka');
const libDir = path.join(base, `kafka-${config.version}`, 'lib');
const confDir = path.join(base, 'conf');
const dataDir = path.join(base, 'data');
const logDir = path.join(base, 'logs');
const pidFile = path.join(base, 'kafka.pid');
const serverLog = path.join(logDir, 'server.log');
const serverProperties = path.join(confDir, 'server.properties');
const log4jProperties = path.join(confDir, 'log4j2.properties');
const mainClass = 'kafka.Kafka';
/** The one node: broker and controller share this id, and the probe looks for it among live brokers. */
const nodeId = 1;
/**
 * The log4j2 backend, bound through slf4j 1.x (Kafka brings slf4j-api 1.7.x, so a binding for
 * slf4j 2 would be ignored and the server would log nothing).
 */
const log4jVersion = '2.25.5';
const artifacts = [
  `org.apache.kafka:kafka_2.13:${config.version}`,
  `org.apache.logging.log4j:log4j-slf4j-impl:${log4jVersion}`,
  `org.apache.logging.log4j:log4j-core:${log4jVersion}`,
];
/** Timeout of one probe (connect plus both answers): the broker answers in milliseconds when ready. */
const probeTimeoutMs = 2000;

/**
 * One loopback node. The internal topics (offsets, transactions, share groups) get replication
 * factor and min ISR 1, or they could never be created on a single node; no rebalance delay, so a
 * consumer group gets its partitions at once. `logDirs` differs only while formatting (see format).
 */
function serverPropertiesText(logDirs: string): string {
  return `# Written by scripts/services/kafka.ts at every start; edits here are overwritten.
process.roles=broker,controller
node.id=${nodeId}
controller.quorum.bootstrap.servers=${host}:${config.controllerPort}
listeners=PLAINTEXT://${host}:${config.port},CONTROLLER://${host}:${config.controllerPort}
advertised.listeners=PLAINTEXT://${host}:${config.port},CONTROLLER://${host}:${config.controllerPort}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${logDirs}
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
`;
}

/**
 * Everything to stdout (redirected to logs/server.log by launch), INFO, with the loggers Kafka's own
 * log4j2 configuration quietens kept at WARN: they log every request or state change. Log4j's own
 * shutdown hook is off: it would race Kafka's and stop logging halfway through the shutdown, so a
 * stop that hangs would leave no trace of where (the console appender flushes every line anyway).
 */
function log4jPropertiesText(): string {
  return `# Written by scripts/services/kafka.ts at every start; edits here are overwritten.
status = warn
shutdownHook = disable
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.stateChange.name = state.change.logger
logger.stateChange.level = WARN
`;
}

/**
 * A cluster id as Kafka's `StorageTool random-uuid` makes it: 16 random bytes, base64url without
 * padding, never starting with '-' (it would read as an option on a command line).
 */
function randomClusterId(): string {
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * Formats `dataDir` once: a new cluster id, this node as the only controller (--standalone). The
 * format writes into a sibling temp folder that is renamed into place at the end (nothing in it
 * names its own path), so `dataDir` holds meta.properties, the mark of a formatted folder, only
 * when the format is complete: an interrupted one is redone at the next launch, never half used.
 */
async function format(java: string): Promise<void> {
  if (fs.existsSync(path.join(dataDir, 'meta.properties'))) return;
  const staging = `${dataDir}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  const formatProperties = path.join(confDir, 'format.properties');
  fs.writeFileSync(formatProperties, serverPropertiesText(staging));
  await runChecked(
    java,
    [
      `-Dlog4j2.configurationFile=${log4jProperties}`,
      '-cp',
      `${libDir}/*`,
      'kafka.tools.StorageTool',
      'format',
      '--standalone',
      '-t',
      randomClusterId(),
      '-c',
      formatProperties,
    ],
    { cwd: base, timeoutMs: config.readyTimeoutMs },
  );
  fs.rmSync(formatProperties, { force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.renameSync(staging, dataDir);
}

/** A request with header v1 (api_key, api_version, correlation_id, client_id), size-prefixed. */
function request(apiKey: number, apiVersion: number, correlationId: number, body: Buffer): Buffer {
  const clientId = Buffer.from('cesync-services-probe');
  const header = Buffer.alloc(10);
  header.writeInt16BE(apiKey, 0);
  header.writeInt16BE(apiVersion, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(clientId.length, 8);
  const size = Buffer.alloc(4);
  size.writeInt32BE(header.length + clientId.length + body.length, 0);
  return Buffer.concat([size, header, clientId, body]);
}

/**
 * Sends `requests` on one connection and resolves to the bodies of the first `requests.length`
 * responses (each without its size prefix), in order: Kafka answers a connection's requests in
 * the order they came. Undefined when the connection fails, closes early or `probeTimeoutMs`
 * passes. Never rejects.
 */
function exchange(requests: readonly Buffer[]): Promise<Buffer[] | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port: config.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const done = (responses: Buffer[] | undefined): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(responses);
    };
    socket.setTimeout(probeTimeoutMs, () => {
      done(undefined);
    });
    socket.once('error', () => {
      done(undefined);
    });
    socket.once('close', () => {
      done(undefined);
    });
    socket.once('connect', () => {
      socket.write(Buffer.concat(requests));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const responses: Buffer[] = [];
      let offset = 0;
      while (responses.length < requests.length && received.length - offset >= 4) {
        const size = received.readInt32BE(offset);
        if (size < 0 || size > 1024 * 1024) {
          done(undefined);
          return;
        }
        if (received.length - offset - 4 < size) break;
        responses.push(received.subarray(offset + 4, offset + 4 + size));
        offset += 4 + size;
      }
      if (responses.length === requests.length) done(responses);
    });
  });
}

/** ApiVersions (api key 18) v0: an empty body. Every broker answers it, in any state that serves requests. */
const apiVersionsKey = 18;
/**
 * Metadata (api key 3) v4, the oldest version Kafka 4 still serves: an empty topic array (brokers
 * only, no topics) and allow_auto_topic_creation false.
 */
const metadataKey = 3;
const metadataVersion = 4;
const metadataBody = Buffer.from([0, 0, 0, 0, 0]);

/**
 * True when the Metadata v4 response body lists node `nodeId` among the brokers. Layout (response
 * header v0, not flexible): correlation_id int32, throttle_time_ms int32, brokers int32 count of
 * (node_id int32, host int16-length string, port int32, rack nullable int16-length string), ...
 * Throws RangeError on a truncated body (the caller treats that as not ready).
 */
function listsThisBroker(body: Buffer, correlationId: number): boolean {
  if (body.readInt32BE(0) !== correlationId) return false;
  let offset = 8;
  const brokers = body.readInt32BE(offset);
  offset += 4;
  for (let i = 0; i < brokers; i++) {
    const id = body.readInt32BE(offset);
    offset += 4;
    offset += 2 + body.readInt16BE(offset);
    offset += 4;
    const rack = body.readInt16BE(offset);
    offset += 2 + Math.max(rack, 0);
    if (id === nodeId) return true;
  }
  return false;
}

export const kafka: Service = {
  name: 'kafka',
  endpoint: `${host}:${config.port}`,
  host,
  port: config.port,
  version: config.version,
  readyTimeoutMs: config.readyTimeoutMs,
  logFiles: [serverLog],

  installed(): boolean {
    return fs.existsSync(path.join(libDir, `kafka_2.13-${config.version}.jar`));
  },

  async install(): Promise<void> {
    if (this.installed()) return;
    await copyDependencies(artifacts, libDir, path.join(base, 'fetch'));
  },

  pid(): number | undefined {
    return livePid(pidFile, mainClass);
  },

  /**
   * Ready when, on one connection, ApiVersions answers with error_code 0 and Metadata lists this
   * node as a live broker. A TCP connect proves nothing: the port opens early and connections wait
   * unanswered until the broker serves requests. The Metadata check makes sure the controller has
   * unfenced the broker (fenced brokers are left out), without which producers could not create a
   * topic; Kafka 4.4 serves requests only once unfenced, but the probe does not rely on that order.
   * Kafka reports no server version on the wire, so the configured one is returned.
   */
  async probe(): Promise<string | undefined> {
    const responses = await exchange([
      request(apiVersionsKey, 0, 1, Buffer.alloc(0)),
      request(metadataKey, metadataVersion, 2, metadataBody),
    ]);
    if (!responses) return undefined;
    const [apiVersions, metadata] = responses;
    try {
      // ApiVersions v0 response: correlation_id int32, error_code int16, api_keys array.
      if (!apiVersions || apiVersions.readInt32BE(0) !== 1 || apiVersions.readInt16BE(4) !== 0) return undefined;
      if (!metadata || !listsThisBroker(metadata, 2)) return undefined;
    } catch {
      return undefined;
    }
    return config.version;
  },

  async launch(): Promise<number> {
    const javaHome = findJdk(config.javaMajor);
    const java = path.join(javaHome, 'bin', 'java');
    if (await portOpen(host, config.controllerPort)) {
      throw new Error(`controller port ${config.controllerPort} is in use; free it or set CESYNC_KAFKA_CONTROLLER_PORT`);
    }
    for (const dir of [confDir, logDir]) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(log4jProperties, log4jPropertiesText());
    fs.writeFileSync(serverProperties, serverPropertiesText(dataDir));
    await format(java);
    const args = [
      `-Xms${config.heap}`,
      `-Xmx${config.heap}`,
      // kafka-run-class.sh's defaults.
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:InitiatingHeapOccupancyPercent=35',
      '-XX:+ExplicitGCInvokesConcurrent',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4jProperties}`,
      '-cp',
      `${libDir}/*`,
      mainClass,
      serverProperties,
    ];
    const out = fs.openSync(serverLog, 'w');
    try {
      const child = spawn(java, args, {
        cwd: base,
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, JAVA_HOME: javaHome },
      });
      // A failed spawn is reported through `pid` below; the listener keeps it from being thrown.
      child.on('error', () => undefined);
      const pid = child.pid;
      if (pid === undefined) throw new Error(`could not start ${java}`);
      child.unref();
      fs.writeFileSync(pidFile, `${String(pid)}\n`);
      return pid;
    } finally {
      fs.closeSync(out);
    }
  },

  cleanup(): void {
    fs.rmSync(pidFile, { force: true });
  },
};
