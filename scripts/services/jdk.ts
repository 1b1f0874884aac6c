// Locating a JDK of a given major version.
//
// Most servers are pinned to a Java major (17) they are known to run on; a few only give a minimum
// (OpenSearch 3: 21 or newer). The machine may carry several JDKs (and `java` on PATH may be a
// different one), so the JDK is looked up by version rather than by path. Every JDK image carries
// a `release` file with a JAVA_VERSION="17.0.x" line.
import fs from 'node:fs';
import path from 'node:path';

/** Folders holding JDKs, one per subfolder. JAVA_HOME and CESYNC_JDK_DIRS are tried first. */
function candidateHomes(): string[] {
  const homes: string[] = [];
  for (const home of [process.env.CESYNC_JAVA_HOME, process.env.JAVA_HOME]) {
    if (home) homes.push(home);
  }
  const roots = (process.env.CESYNC_JDK_DIRS ?? '').split(path.delimiter).filter(Boolean);
  roots.push('/usr/lib/jvm', '/usr/java', '/opt/java', '/opt');
  for (const root of roots) {
    let entries: string[];
    try {
      entries = fs.readdirSync(root).sort();
    } catch {
      continue;
    }
    for (const entry of entries) homes.push(path.join(root, entry));
  }
  return homes;
}

/** Major version of the JDK at `home`, or undefined when it is not a JDK with a release file. */
export function jdkMajor(home: string): number | undefined {
  let release: string;
  try {
    release = fs.readFileSync(path.join(home, 'release'), 'utf8');
  } catch {
    return undefined;
  }
  const match = /^JAVA_VERSION="(\d+)(?:\.(\d+))?/m.exec(release);
  if (!match) return undefined;
  // Java 8 and older report "1.8.0_x".
  return match[1] === '1' && match[2] ? Number(match[2]) : Number(match[1]);
}

const found = new Map<string, string>();

/**
 * Home folder of a JDK (with a runnable bin/java) whose major version is exactly `major`, or with
 * `atLeast`, `major` or newer: then the first candidate that qualifies wins, in the order
 * CESYNC_JAVA_HOME, JAVA_HOME, CESYNC_JDK_DIRS, the usual folders (each sorted by name).
 * Throws an error that says what was looked for, and where, when there is none.
 */
export function findJdk(major: number, atLeast = false): string {
  const key = `${atLeast ? '>=' : ''}${major}`;
  const cached = found.get(key);
  if (cached) return cached;
  const seen = new Set<string>();
  for (const home of candidateHomes()) {
    let real: string;
    try {
      real = fs.realpathSync(home);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const actual = jdkMajor(real);
    const fits = actual !== undefined && (atLeast ? actual >= major : actual === major);
    if (fits && fs.existsSync(path.join(real, 'bin', 'java'))) {
      found.set(key, real);
      return real;
    }
  }
  throw new Error(
    `No JDK ${major}${atLeast ? ' or newer' : ''} found (looked at CESYNC_JAVA_HOME, JAVA_HOME, CESYNC_JDK_DIRS, /usr/lib/jvm/*, /usr/java/*, /opt/java/*, /opt/*). ` +
      `Install one, e.g. \`apt-get install openjdk-${major}-jdk-headless\`, or point CESYNC_JAVA_HOME at it.`,
  );
}
