// Apache Cassandra as a managed single-node test server.
//
// Layout under .services/cassandra/:
//   cassandra-<version>/lib/   jars of org.apache.cassandra:cassandra-all and its dependencies
//   fetch/pom.xml              throw-away pom used to resolve them
//   conf/                      cassandra.yaml, logback.xml and server.p12 (copy of tls.ts's
//                              keystore), rewritten at every launch
//   data/                      cassandra.storagedir (data, commitlog, hints, saved caches)
//   logs/system.log            server log (logback, INFO); logs/stdout.log: JVM stdout/stderr
//   cassandra.pid              pid of the detached JVM
// The JVM is started directly (not via bin/cassandra, which the jar distribution lacks) with the
// flags of Cassandra's own jvm17-server.options, detached so it outlives the calling script.
//
// Client connections may use TLS, optionally, on the same native port: plain clients keep working
// as before, and a client trusting tls.ts's ca.pem can connect with TLS (one trusting
// other-ca.pem fails the handshake). No client certificates are asked for.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cassandraConfig as config, host } from './config.ts';
import { cqlReleaseVersion } from './cql.ts';
import { findJdk } from './jdk.ts';
import { copyDependencies } from './maven.ts';
import { serviceDir } from './paths.ts';
import { livePid, portOpen } from './proc.ts';
import type { Service } from './service.ts';
import { ensureTls, tlsPassword } from './tls.ts';

const base = serviceDir('cassandra');
const libDir = path.join(base, `cassandra-${config.version}`, 'lib');
const confDir = path.join(base, 'conf');
const dataDir = path.join(base, 'data');
const logDir = path.join(base, 'logs');
const pidFile = path.join(base, 'cassandra.pid');
const systemLog = path.join(logDir, 'system.log');
const stdoutLog = path.join(logDir, 'stdout.log');
const mainClass = 'org.apache.cassandra.service.CassandraDaemon';
/** The server keystore, copied here at launch so the running node never depends on .services/tls/. */
const keystore = path.join(confDir, 'server.p12');

/** JDK module access Cassandra needs on Java 17 (from its conf/jvm17-server.options). */
const jdk17Flags: string[] = [
  ...[
    'java.base/jdk.internal.misc',
    'java.base/jdk.internal.ref',
    'java.base/sun.nio.ch',
    'java.management.rmi/com.sun.jmx.remote.internal.rmi',
    'java.rmi/sun.rmi.registry',
    'java.rmi/sun.rmi.server',
    'java.sql/java.sql',
    'java.base/java.lang.ref',
    'jdk.unsupported/sun.misc',
  ].map((pkg) => `--add-exports=${pkg}=ALL-UNNAMED`),
  ...[
    'java.base/java.lang.module',
    'java.base/jdk.internal.loader',
    'java.base/jdk.internal.ref',
    'java.base/jdk.internal.reflect',
    'java.base/jdk.internal.math',
    'java.base/jdk.internal.module',
    'java.base/jdk.internal.util.jar',
    'jdk.management/com.sun.management.internal',
    'java.base/sun.nio.ch',
    'java.base/java.io',
    'java.base/java.nio',
    'java.base/java.util.concurrent',
    'java.base/java.util',
    'java.base/java.util.concurrent.atomic',
    'java.base/java.lang',
    'java.base/java.math',
    'java.base/java.lang.reflect',
    'java.base/java.net',
  ].map((pkg) => `--add-opens=${pkg}=ALL-UNNAMED`),
];

/** Smallest configuration for one loopback node with password authentication and authorization. */
function cassandraYaml(): string {
  return `# Written by scripts/services/cassandra.ts at every start; edits here are overwritten.
cluster_name: cesync
num_tokens: 16
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
commitlog_sync: periodic
commitlog_sync_period: 10000ms
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "${host}:${config.storagePort}"
listen_address: ${host}
rpc_address: ${host}
storage_port: ${config.storagePort}
native_transport_port: ${config.port}
start_native_transport: true
authenticator: PasswordAuthenticator
authorizer: CassandraAuthorizer
role_manager: CassandraRoleManager
# Test data is thrown away: no snapshots on DROP/TRUNCATE, which would otherwise fill the disk.
auto_snapshot: false
# TLS for clients that ask for it, plain for the rest, both on native_transport_port (optional: the
# server tells them apart by the first bytes). Keys as in Cassandra 5.0's EncryptionOptions.
client_encryption_options:
  enabled: true
  optional: true
  keystore: ${keystore}
  keystore_password: ${tlsPassword}
  store_type: PKCS12
  require_client_auth: false
`;
}

/** Server log to a file only, INFO level, size-capped so it stays small across many test runs. */
function logbackXml(): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by scripts/services/cassandra.ts at every start; edits here are overwritten. -->
<configuration scan="false">
  <appender name="FILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${systemLog}</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${logDir}/system.log.%i</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>2</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>10MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern>
    </encoder>
  </appender>
  <root level="INFO">
    <appender-ref ref="FILE"/>
  </root>
</configuration>
`;
}

export const cassandra: Service = {
  name: 'cassandra',
  endpoint: `${host}:${config.port}`,
  host,
  port: config.port,
  version: config.version,
  readyTimeoutMs: config.readyTimeoutMs,
  logFiles: [systemLog, stdoutLog],

  installed(): boolean {
    return fs.existsSync(path.join(libDir, `cassandra-all-${config.version}.jar`));
  },

  async install(): Promise<void> {
    if (this.installed()) return;
    await copyDependencies(`org.apache.cassandra:cassandra-all:${config.version}`, libDir, path.join(base, 'fetch'));
  },

  pid(): number | undefined {
    return livePid(pidFile, mainClass);
  },

  async probe(): Promise<string | undefined> {
    // A cheap TCP check first keeps the driver from being spun up against a closed port.
    if (!(await portOpen(host, config.port))) return undefined;
    return cqlReleaseVersion({
      host,
      port: config.port,
      username: config.username,
      password: config.password,
      localDataCenter: config.localDataCenter,
    });
  },

  async launch(): Promise<number> {
    const javaHome = findJdk(config.javaMajor);
    for (const dir of [confDir, dataDir, logDir]) fs.mkdirSync(dir, { recursive: true });
    const tls = await ensureTls();
    fs.copyFileSync(tls.serverKeystore, keystore);
    fs.writeFileSync(path.join(confDir, 'cassandra.yaml'), cassandraYaml());
    fs.writeFileSync(path.join(confDir, 'logback.xml'), logbackXml());
    const args = [
      `-Xms${config.heap}`,
      `-Xmx${config.heap}`,
      '-XX:+UseG1GC',
      '-Djava.net.preferIPv4Stack=true',
      '-Djdk.attach.allowAttachSelf=true',
      '-Dio.netty.tryReflectionSetAccessible=true',
      ...jdk17Flags,
      `-Dcassandra.config=file://${path.join(confDir, 'cassandra.yaml')}`,
      `-Dcassandra.storagedir=${dataDir}`,
      `-Dcassandra.logdir=${logDir}`,
      `-Dlogback.configurationFile=file://${path.join(confDir, 'logback.xml')}`,
      '-Dcassandra-foreground=yes',
      '-Dcassandra.skip_wait_for_gossip_to_settle=0',
      // Create the default superuser as soon as the node is up rather than 10 s later, and hash its
      // password with few bcrypt rounds: test logins are then fast. Both only matter for test data.
      '-Dcassandra.superuser_setup_delay_ms=0',
      '-Dcassandra.auth_bcrypt_gensalt_log2_rounds=4',
      '-cp',
      `${libDir}/*`,
      mainClass,
    ];
    const out = fs.openSync(stdoutLog, 'w');
    try {
      const child = spawn(path.join(javaHome, 'bin', 'java'), args, {
        cwd: base,
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, JAVA_HOME: javaHome },
      });
      // A failed spawn is reported through `pid` below; the listener keeps it from being thrown.
      child.on('error', () => undefined);
      const pid = child.pid;
      if (pid === undefined) throw new Error(`could not start ${path.join(javaHome, 'bin', 'java')}`);
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
