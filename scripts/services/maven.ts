// Fetching server artifacts from Maven Central with the `mvn` client.
//
// Maven Central is the one artifact source reachable from the machines these scripts target, and
// `mvn` brings its own caching (~/.m2) and mirror settings, so it is used instead of raw HTTP.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runChecked } from './proc.ts';

const mvnTimeoutMs = 20 * 60 * 1000;

/** The local Maven repository: CESYNC_M2_REPO, else <localRepository> in ~/.m2/settings.xml, else ~/.m2/repository. */
export function localRepository(): string {
  if (process.env.CESYNC_M2_REPO) return path.resolve(process.env.CESYNC_M2_REPO);
  try {
    const settings = fs.readFileSync(path.join(os.homedir(), '.m2', 'settings.xml'), 'utf8');
    const match = /<localRepository>\s*([^<]+?)\s*<\/localRepository>/.exec(settings);
    if (match?.[1]) return match[1].replace(/^~(?=\/|$)/, os.homedir()).replace('${user.home}', os.homedir());
  } catch {
    // No settings file: Maven's default applies.
  }
  return path.join(os.homedir(), '.m2', 'repository');
}

/** -Dmaven.repo.local when the repository was moved by CESYNC_M2_REPO, so mvn and we agree. */
function repoArgs(): string[] {
  return process.env.CESYNC_M2_REPO ? [`-Dmaven.repo.local=${localRepository()}`] : [];
}

/**
 * Copies `groupId:artifactId:version` and all its runtime dependencies (jars) into `outDir`; given
 * several coordinates, all of them and their dependencies (e.g. a server plus the logging backend
 * it leaves to the application), resolved together so one version of each jar is copied. A
 * throw-away pom in `workDir`, named after the first, declares them. The copy goes to a sibling temp
 * folder that is renamed into place at the end, so `outDir` exists only when it is complete.
 */
export async function copyDependencies(coordinates: string | readonly string[], outDir: string, workDir: string): Promise<void> {
  const all = typeof coordinates === 'string' ? [coordinates] : coordinates;
  const dependencies = all.map((coordinate) => {
    const [groupId, artifactId, version] = coordinate.split(':');
    if (!groupId || !artifactId || !version) throw new Error(`expected groupId:artifactId:version, got ${coordinate}`);
    return { groupId, artifactId, version };
  });
  const [first] = dependencies;
  if (!first) throw new Error('copyDependencies needs at least one groupId:artifactId:version');
  fs.mkdirSync(workDir, { recursive: true });
  const pom = `<?xml version="1.0" encoding="UTF-8"?>
<!-- Throw-away project whose only purpose is to resolve ${all.join(', ')} and their dependencies. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>cesync.services</groupId>
  <artifactId>fetch-${first.artifactId}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${dependencies
  .map(
    (d) => `    <dependency>
      <groupId>${d.groupId}</groupId>
      <artifactId>${d.artifactId}</artifactId>
      <version>${d.version}</version>
    </dependency>
`,
  )
  .join('')}  </dependencies>
</project>
`;
  fs.writeFileSync(path.join(workDir, 'pom.xml'), pom);
  const staging = `${outDir}.partial`;
  fs.rmSync(staging, { recursive: true, force: true });
  await runChecked(
    'mvn',
    ['-q', '-B', ...repoArgs(), 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${staging}`],
    { cwd: workDir, timeoutMs: mvnTimeoutMs },
  );
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.renameSync(staging, outDir);
}

/**
 * Resolves one artifact (`groupId:artifactId:version:type`, no dependencies) into the local Maven
 * repository and returns its path there.
 */
export async function getArtifact(coordinates: string): Promise<string> {
  const [groupId, artifactId, version, type = 'jar'] = coordinates.split(':');
  if (!groupId || !artifactId || !version) throw new Error(`expected groupId:artifactId:version[:type], got ${coordinates}`);
  const file = path.join(
    localRepository(),
    ...groupId.split('.'),
    artifactId,
    version,
    `${artifactId}-${version}.${type}`,
  );
  if (fs.existsSync(file)) return file;
  await runChecked(
    'mvn',
    ['-q', '-B', ...repoArgs(), 'dependency:get', `-Dartifact=${coordinates}`, '-Dtransitive=false'],
    { cwd: os.tmpdir(), timeoutMs: mvnTimeoutMs },
  );
  if (!fs.existsSync(file)) throw new Error(`mvn dependency:get ${coordinates} succeeded but ${file} is missing`);
  return file;
}
