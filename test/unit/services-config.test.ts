// The service scripts' configuration: which services exist, which start by default, the endpoint
// shape tests receive, and how a JDK is picked by (minimum) major version. Nothing is started.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultServiceNames, isServiceName, serviceEndpoints, serviceNames } from '../../scripts/services/index.ts';
import { findJdk } from '../../scripts/services/jdk.ts';

describe('service names', () => {
  it('starts exactly postgres, cassandra and elasticsearch by default (the integration setup relies on it)', () => {
    expect(defaultServiceNames).toEqual(['postgres', 'cassandra', 'elasticsearch']);
  });

  it('knows the extra search servers, in canonical order after the default ones', () => {
    expect(serviceNames).toEqual([
      'postgres',
      'cassandra',
      'elasticsearch',
      'elasticsearch7',
      'opensearch2',
      'opensearch3',
      'elasticsearch-secure',
      'kafka',
    ]);
    for (const name of serviceNames) expect(isServiceName(name)).toBe(true);
    expect(isServiceName('opensearch')).toBe(false);
  });
});

describe('service endpoints', () => {
  const endpoints = serviceEndpoints();

  it('describes every search server by product, major and URL', () => {
    const { targets } = endpoints;
    expect(targets.elasticsearch).toMatchObject({ kind: 'elasticsearch', major: 8, node: endpoints.elasticsearch.node });
    expect(targets.elasticsearch7).toMatchObject({ kind: 'elasticsearch', major: 7 });
    expect(targets.opensearch2).toMatchObject({ kind: 'opensearch', major: 2 });
    expect(targets.opensearch3).toMatchObject({ kind: 'opensearch', major: 3 });
    for (const name of ['elasticsearch7', 'opensearch2', 'opensearch3'] as const) {
      expect(targets[name].node).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
    expect(new Set(Object.values(targets).map((t) => t.node)).size).toBe(5);
  });

  it('gives the secure server HTTPS, credentials and both CA files', () => {
    const secure = endpoints.targets['elasticsearch-secure'];
    expect(secure).toMatchObject({ kind: 'elasticsearch', major: 8, username: 'elastic' });
    expect(secure.node).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(secure.password).not.toBe('');
    expect(path.basename(secure.caFile)).toBe('ca.pem');
    expect(path.basename(secure.otherCaFile)).toBe('other-ca.pem');
  });

  it('points Cassandra TLS clients at the same CA files', () => {
    const secure = endpoints.targets['elasticsearch-secure'];
    expect(endpoints.cassandra.tls).toEqual({ caFile: secure.caFile, otherCaFile: secure.otherCaFile });
  });
});

describe('findJdk', () => {
  let root: string;
  const saved = process.env.CESYNC_JDK_DIRS;

  /** A folder that looks like a JDK of `major` to jdk.ts: a release file and a bin/java. */
  function fakeJdk(name: string, major: number): void {
    fs.mkdirSync(path.join(root, name, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(root, name, 'release'), `JAVA_VERSION="${major}.0.1"\n`);
    fs.writeFileSync(path.join(root, name, 'bin', 'java'), '');
  }

  beforeAll(() => {
    // Majors no real JDK has, so the machine's own JDKs (tried first) never match.
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cesync-jdks-'));
    fakeJdk('jdk-90', 90);
    fakeJdk('jdk-95', 95);
    process.env.CESYNC_JDK_DIRS = root;
  });

  afterAll(() => {
    if (saved === undefined) delete process.env.CESYNC_JDK_DIRS;
    else process.env.CESYNC_JDK_DIRS = saved;
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('finds an exact major', () => {
    expect(findJdk(95)).toBe(fs.realpathSync(path.join(root, 'jdk-95')));
  });

  it('with atLeast, takes the first candidate of that major or newer', () => {
    expect(findJdk(91, true)).toBe(fs.realpathSync(path.join(root, 'jdk-95')));
    expect(findJdk(90, true)).toBe(fs.realpathSync(path.join(root, 'jdk-90')));
  });

  it('says what it looked for when nothing fits', () => {
    expect(() => findJdk(96, true)).toThrow(/No JDK 96 or newer found/);
    expect(() => findJdk(93)).toThrow(/No JDK 93 found/);
  });
});
