/**
 * bin/cesync.js on an unsupported Node.js: it runs the CLI again under the project's own runtime
 * (node_modules/node, installed by `npm ci`) with the same arguments, exit code and signals, or
 * says which Node.js is needed; and on any Node.js it says "run npm run build" when dist/ is
 * missing. Most cases run a copy of bin/cesync.js in a scratch directory whose dist/cli/main.js
 * is a small stand-in CLI (below), so they need no build and no servers; two run the real CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const BIN = join(ROOT, 'bin', 'cesync.js');
const PROJECT_RUNTIME = join(ROOT, 'node_modules', 'node', 'bin', 'node');
const SUPPORTED = '>=22.12.0'; // package.json engines.node
const TIMEOUT = 30_000;

interface Runtime {
  readonly label: string;
  readonly command: string;
  readonly env: Readonly<Record<string, string>>;
  readonly version: string;
}

function versionOf(command: string): string {
  return spawnSync(command, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim();
}

const isOlderThan22_12 = (v: string) => {
  const [major = 0, minor = 0] = v.split('.').map(Number);
  return major < 22 || (major === 22 && minor < 12);
};

/**
 * The Node.js runtimes the guard must treat as too old: the machine's /usr/bin/node when it is
 * older than the supported versions (what a user runs), and always the project's runtime with
 * CESYNC_TEST_NODE_VERSION=20.0.0, the hook of bin/cesync.js that makes it take the running
 * Node.js for that version, so the too-old path is tested on any machine. The hook replaces only
 * the version the guard reads; the re-run does not inherit it.
 */
function tooOldRuntimes(): Runtime[] {
  const hooked = { label: 'the project runtime taken for Node.js 20.0.0', command: PROJECT_RUNTIME, env: { CESYNC_TEST_NODE_VERSION: '20.0.0' }, version: '20.0.0' };
  const system = existsSync('/usr/bin/node') ? versionOf('/usr/bin/node') : '';
  return system !== '' && isOlderThan22_12(system) ? [{ label: `/usr/bin/node ${system}`, command: '/usr/bin/node', env: {}, version: system }, hooked] : [hooked];
}

/** A stand-in for dist/cli/main.js: what it does is chosen by its first argument. */
const FAKE_MAIN = `
export async function main(argv) {
  const [mode, ...rest] = argv;
  const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
  if (mode === 'exit') return Number(rest[0]);
  if (mode === 'argv') {
    say({ argv, node: process.versions.node, rerun: typeof process.send === 'function' });
    return 0;
  }
  if (mode === 'handle') {
    // As the real CLI: SIGINT/SIGTERM handled; a second one would mean "stop at once".
    const got = [];
    const on = (s) => got.push(s);
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    say({ ready: process.pid });
    while (got.length === 0) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000)); // time for a duplicate to arrive
    say({ got });
    return 4;
  }
  if (mode === 'gap') {
    // As the real CLI at its end: its own listeners removed, then a stop signal before the
    // process exits (it still has work of its own: a connection closing, here a timer).
    const on = () => {};
    process.on('SIGTERM', on);
    process.off('SIGTERM', on);
    process.kill(process.pid, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    setTimeout(() => {}, 1000);
    setTimeout(() => process.kill(process.pid, 'SIGTERM'), 100);
    return 3;
  }
  if (mode === 'hang') {
    say({ ready: process.pid });
    await new Promise((r) => setTimeout(r, 20000));
    return 0;
  }
  if (mode === 'flood') {
    for (let i = 0; i < 100000; i++) {
      process.stdout.write('line ' + i + '\\n');
      await new Promise((r) => setImmediate(r));
    }
    return 9;
  }
  return 70;
}
`;

const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the package's bin/ and package.json, with the stand-in CLI and the project runtime as asked. */
function sandbox(options: { built: boolean; runtime: boolean }): string {
  const dir = mkdtempSync(join(tmpdir(), 'cesync-node-guard-'));
  scratch.push(dir);
  mkdirSync(join(dir, 'bin'));
  copyFileSync(BIN, join(dir, 'bin', 'cesync.js'));
  copyFileSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
  if (options.built) {
    mkdirSync(join(dir, 'dist', 'cli'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'cli', 'main.js'), FAKE_MAIN);
  }
  if (options.runtime) {
    mkdirSync(join(dir, 'node_modules', 'node', 'bin'), { recursive: true });
    symlinkSync(PROJECT_RUNTIME, join(dir, 'node_modules', 'node', 'bin', 'node'));
  }
  return join(dir, 'bin', 'cesync.js');
}

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface Running {
  readonly pid: number;
  /** The process id the stand-in CLI announces once its signal handlers are in place. */
  ready(): Promise<number>;
  readonly ended: Promise<Ended>;
}

function start(rt: Runtime, bin: string, args: readonly string[]): Running {
  const child = spawn(rt.command, [bin, ...args], { env: { ...process.env, ...rt.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let gotLine: (line: string) => void = () => {};
  const line = new Promise<string>((resolve) => (gotLine = resolve));
  child.stdout.on('data', (b: Buffer) => {
    stdout += b.toString();
    if (stdout.includes('\n')) gotLine(stdout.slice(0, stdout.indexOf('\n')));
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const ended = new Promise<Ended>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { pid: child.pid!, ready: () => line.then((l) => (JSON.parse(l) as { ready: number }).ready), ended };
}

const run = (rt: Runtime, bin: string, args: readonly string[]) => start(rt, bin, args).ended;
const outputLines = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

const projectRuntime: Runtime = { label: 'the project runtime', command: PROJECT_RUNTIME, env: {}, version: versionOf(PROJECT_RUNTIME) };

describe('the project runtime', () => {
  it('is installed (npm ci) and supported', () => {
    expect(existsSync(PROJECT_RUNTIME), `${PROJECT_RUNTIME} is missing: run npm ci`).toBe(true);
    expect(isOlderThan22_12(projectRuntime.version)).toBe(false);
  });
  it('is what package.json engines.node asks for', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    expect(pkg.engines.node).toBe(SUPPORTED);
  });
});

describe.each(tooOldRuntimes())('on $label', (rt) => {
  it('runs the real CLI under the project runtime: --help works, bad usage exits 2 as there', { timeout: TIMEOUT }, async () => {
    expect(existsSync(join(ROOT, 'dist', 'cli', 'main.js')), 'dist/ is missing: run npm run build first').toBe(true);
    const help = await run(rt, BIN, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: cesync');
    const [bad, direct] = await Promise.all([run(rt, BIN, ['sync', '--pipeline']), run(projectRuntime, BIN, ['sync', '--pipeline'])]);
    expect(bad.code).toBe(2);
    expect(direct.code).toBe(2);
    expect(bad.stderr).toBe(direct.stderr);
    expect(bad.stderr).not.toContain('rawJSON');
  });

  it('passes the same arguments to the CLI under the project runtime', { timeout: TIMEOUT }, async () => {
    const args = ['argv', 'a b', 'ü', '--x=1', '', '-'];
    const r = await run(rt, sandbox({ built: true, runtime: true }), args);
    expect(r.code).toBe(0);
    expect(outputLines(r.stdout)).toEqual([{ argv: args, node: projectRuntime.version, rerun: true }]);
  });

  it('exits with the exit code of the CLI', { timeout: TIMEOUT }, async () => {
    const bin = sandbox({ built: true, runtime: true });
    const codes = [0, 1, 3, 5, 70];
    const ended = await Promise.all(codes.map((code) => run(rt, bin, ['exit', String(code)])));
    expect(ended.map((r) => r.code)).toEqual(codes);
  });

  it('forwards a signal sent to it alone, once', { timeout: TIMEOUT }, async () => {
    const cli = start(rt, sandbox({ built: true, runtime: true }), ['handle']);
    await cli.ready();
    process.kill(cli.pid, 'SIGTERM');
    const r = await cli.ended;
    expect(r.code).toBe(4);
    expect(outputLines(r.stdout)[1]).toEqual({ got: ['SIGTERM'] });
  });

  it.each([['the CLI first'], ['itself first']])(
    'does not deliver again a signal the whole process group got (%s)',
    { timeout: TIMEOUT },
    async (order) => {
      const cli = start(rt, sandbox({ built: true, runtime: true }), ['handle']);
      const cliPid = await cli.ready();
      const pids = order === 'the CLI first' ? [cliPid, cli.pid] : [cli.pid, cliPid];
      for (const pid of pids) process.kill(pid, 'SIGINT');
      const r = await cli.ended;
      expect(r.code).toBe(4);
      expect(outputLines(r.stdout)[1]).toEqual({ got: ['SIGINT'] });
    },
  );

  it('is never killed by a stop signal that comes after the CLI removed its own listeners', { timeout: TIMEOUT }, async () => {
    const r = await run(rt, sandbox({ built: true, runtime: true }), ['gap']);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 3, signal: null });
  });

  it('ends by the signal that ended the CLI', { timeout: TIMEOUT }, async () => {
    const cli = start(rt, sandbox({ built: true, runtime: true }), ['hang']);
    await cli.ready();
    process.kill(cli.pid, 'SIGHUP');
    const r = await cli.ended;
    expect(r.signal).toBe('SIGHUP');
  });

  it('exits 0 when its output pipe closes early (cesync --help | head)', { timeout: TIMEOUT }, async () => {
    const r = await firstLinesOnly(rt, sandbox({ built: true, runtime: true }));
    expect(r).toEqual({ code: 0, signal: null });
  });

  it('without the project runtime, names its version and the supported ones, and exits 2', { timeout: TIMEOUT }, async () => {
    const r = await run(rt, sandbox({ built: true, runtime: false }), ['exit', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`Node.js ${rt.version}`);
    expect(lines[0]).toContain(SUPPORTED);
    expect(lines[0]).toContain('npm ci');
  });

  it('says to build when dist/ is missing', { timeout: TIMEOUT }, async () => {
    const r = await run(rt, sandbox({ built: false, runtime: true }), ['--help']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cesync: not built yet \(.*main\.js is missing\): run npm run build in .*\n$/);
  });
});

describe('on a supported Node.js', () => {
  it('runs the CLI in the same process', { timeout: TIMEOUT }, async () => {
    const r = await run(projectRuntime, sandbox({ built: true, runtime: false }), ['argv', 'x']);
    expect(r.code).toBe(0);
    expect(outputLines(r.stdout)).toEqual([{ argv: ['argv', 'x'], node: projectRuntime.version, rerun: false }]);
  });

  it('exits with the exit code of the CLI', { timeout: TIMEOUT }, async () => {
    expect((await run(projectRuntime, sandbox({ built: true, runtime: false }), ['exit', '5'])).code).toBe(5);
  });

  it('is never killed by a stop signal that comes after the CLI removed its own listeners', { timeout: TIMEOUT }, async () => {
    const r = await run(projectRuntime, sandbox({ built: true, runtime: false }), ['gap']);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 3, signal: null });
  });

  it('exits 0 when its output pipe closes early', { timeout: TIMEOUT }, async () => {
    expect(await firstLinesOnly(projectRuntime, sandbox({ built: true, runtime: false }))).toEqual({ code: 0, signal: null });
  });

  it('says to build when dist/ is missing', { timeout: TIMEOUT }, async () => {
    const r = await run(projectRuntime, sandbox({ built: false, runtime: false }), ['--help']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('run npm run build');
    expect(r.stderr).not.toContain('ERR_MODULE_NOT_FOUND');
  });
});

/** Runs the stand-in's `flood` and closes the reading end of its stdout after the first output. */
function firstLinesOnly(rt: Runtime, bin: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(rt.command, [bin, 'flood'], { env: { ...process.env, ...rt.env }, stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.once('data', () => child.stdout.destroy());
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}
