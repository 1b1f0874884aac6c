#!/usr/bin/env node
// The cesync executable: runs the compiled CLI (dist/, from `npm run build`) and exits with its
// code. The CLI needs a supported Node.js (package.json `engines.node`, and JSON.rawJSON for
// exact big numbers). On an older one this file runs itself again under the project's own
// runtime (the `node` devDependency that `npm ci` installs) when there is one, and otherwise
// says which Node.js is needed and exits 2. Plain JavaScript that parses and runs on Node.js 18
// and newer, so that an old Node.js gets that message rather than an error from inside the CLI.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';

// SIGINT and SIGTERM always have a listener here, from the first line to the exit: a signal that
// finds none takes its default action and kills the process, even between the CLI removing its
// own listeners and this file adding the next ones. What the listener does depends on the phase:
// - 'loading' (this file and the CLI load): nothing was done yet, so it ends as interrupted
//   (exit 4), not killed by the signal;
// - 'running': the CLI's own listeners stop the work cleanly; this one does nothing;
// - 'done' (the work is done, connections are closing): it ends with the exit code it has;
// - 'relaying' (the run under the project's runtime): the relay forwards it; this one does nothing.
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'];
let phase = 'loading';
const onStopSignal = (signal) => {
  if (phase === 'loading') {
    process.stderr.write(`\ncesync: ${signal} before anything was started; nothing was done\n`);
    process.exit(4);
  }
  if (phase === 'done') process.exit(process.exitCode);
};
for (const s of STOP_SIGNALS) process.on(s, onStopSignal);

const SELF = fileURLToPath(import.meta.url);
const ROOT = dirname(dirname(SELF));
const EXIT_USAGE = 2;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How long a signal this process receives waits for the child to report it got it too. */
const SAME_SIGNAL_MS = 500;
/** Set in the environment of the run under the project's runtime: that run never re-runs itself. */
const RERUN_MARK = 'CESYNC_PROJECT_RUNTIME';
/**
 * For tests only: the Node.js version to take the running one for (e.g. `20.0.0`), so the path
 * of a too-old Node.js can be tested where the machine's own Node.js is new enough. Only the
 * version read is replaced; the run under the project's runtime does not inherit the variable
 * and checks its own Node.js for real.
 */
const TEST_VERSION = 'CESYNC_TEST_NODE_VERSION';

const rerun = process.env[RERUN_MARK] === '1';
delete process.env[RERUN_MARK];
const supported = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node;
const running = process.env[TEST_VERSION] || process.versions.node;
const problem = unsupported(running, supported);
const runtime = problem === undefined || rerun ? undefined : projectRuntime();

if (problem === undefined) await runCli();
else if (runtime !== undefined) runUnder(runtime);
else fail(`${problem}; cesync supports Node.js ${supported}. ${rerun ? rerunHint() : firstRunHint()}`);

function firstRunHint() {
  return `Run \`npm ci\` in ${ROOT} to install the project's own Node.js runtime (this command then uses it), or run cesync with a supported Node.js.`;
}

/** The project's runtime itself is unsupported: package.json names another one than is installed. */
function rerunHint() {
  return `That is the project's own runtime (${process.execPath}): run \`npm ci\` in ${ROOT} to install the one package.json names.`;
}

/** Why the Node.js of `version` cannot run the CLI, or undefined when it can. */
function unsupported(version, range) {
  if (compareVersions(version, minimumOf(range)) < 0) return `this is Node.js ${version}`;
  if (typeof JSON.rawJSON !== 'function') return `this Node.js ${version} has no JSON.rawJSON`;
  return undefined;
}

/** The lowest version of a `>=x.y.z` range (the only form package.json `engines.node` uses here). */
function minimumOf(range) {
  const m = /^>=\s*v?(\d+\.\d+\.\d+)$/.exec(String(range).trim());
  if (!m) throw new Error(`package.json engines.node must be a ">=x.y.z" range, not ${JSON.stringify(range)}`);
  return m[1];
}

/** Compares two `x.y.z` versions (a leading `v` and any pre-release suffix are ignored). */
function compareVersions(a, b) {
  const parts = (v) => String(v).replace(/^v/, '').split(/[.-]/).slice(0, 3).map(Number);
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if ((x[i] || 0) !== (y[i] || 0)) return (x[i] || 0) - (y[i] || 0);
  return 0;
}

/** The project's pinned Node.js executable, where `npm ci` puts it, or undefined when absent. */
function projectRuntime() {
  const candidates =
    process.platform === 'win32'
      ? [join(ROOT, 'node_modules', 'node', 'bin', 'node.exe')]
      : [join(ROOT, 'node_modules', 'node', 'bin', 'node'), join(ROOT, 'node_modules', '.bin', 'node')];
  return candidates.find((p) => existsSync(p));
}

function fail(message) {
  process.stderr.write(`cesync: ${message}\n`);
  process.exitCode = EXIT_USAGE;
}

/** Runs the compiled CLI in this process. */
async function runCli() {
  const entry = join(ROOT, 'dist', 'cli', 'main.js');
  if (!existsSync(entry)) return fail(`not built yet (${entry} is missing): run npm run build in ${ROOT}`);
  // Output piped into a command that stops reading (`cesync --help | head`) is not an error.
  process.stdout.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  if (rerun && process.send) reportSignalsToParent();
  const { main } = await import(pathToFileURL(entry).href);
  phase = 'running';
  process.exitCode = await main(process.argv.slice(2));
  phase = 'done';
}

/**
 * Runs this same command under `runtime` (same Node.js options, same arguments, the terminal
 * shared) and ends as it ends: with its exit code, or killed by the same signal.
 */
function runUnder(runtime) {
  phase = 'relaying'; // signals are relayed to the child from here on
  const env = { ...process.env, [RERUN_MARK]: '1' };
  delete env[TEST_VERSION];
  const child = spawn(runtime, [...process.execArgv, SELF, ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env,
  });
  const stopRelay = relaySignals(child);
  child.on('error', (e) => {
    stopRelay();
    fail(`cannot run the project's Node.js runtime ${runtime}: ${e.message}`);
  });
  child.on('exit', (code, signal) => {
    stopRelay();
    if (signal) dieOf(signal);
    else process.exit(code ?? EXIT_USAGE);
  });
}

/** Ends this process by `signal`, as the child ended (128 + its number where it cannot be raised). */
function dieOf(signal) {
  process.exitCode = 128 + (constants.signals[signal] ?? 0);
  for (const s of STOP_SIGNALS) process.off(s, onStopSignal); // the signal takes its default action
  process.kill(process.pid, signal);
  setTimeout(() => process.exit(), 1000); // a signal Node.js ignores (SIGPIPE): the exit code stands
}

/**
 * Forwards SIGINT, SIGTERM and SIGHUP to the child, each delivery once. A signal sent to the
 * whole process group (Ctrl-C at a terminal, a closed terminal, a supervisor that signals every
 * process) already reaches the child, and a second SIGINT or SIGTERM would turn cesync's "finish
 * the writes in flight" into "stop at once". So the child reports each signal it gets (see
 * reportSignalsToParent), and a signal the child has not reported within SAME_SIGNAL_MS is
 * forwarded. Returns the function that stops relaying.
 */
function relaySignals(child) {
  const relays = FORWARDED_SIGNALS.map((signal) => signalRelay(signal, () => forward(child, signal)));
  const onReport = (m) => relays.find((r) => r.signal === m?.cesyncSignal)?.childGotIt();
  child.on('message', onReport);
  for (const r of relays) process.on(r.signal, r.parentGotIt);
  return () => {
    child.off('message', onReport);
    for (const r of relays) {
      process.off(r.signal, r.parentGotIt);
      r.cancel();
    }
  };
}

/**
 * Pairs the deliveries of one signal to this process with the child's reports of the same
 * signal: each delivery the child did not report (before or within SAME_SIGNAL_MS after) is
 * forwarded once.
 */
function signalRelay(signal, send) {
  let reports = []; // times of the child's reports not paired with a delivery here
  const pending = []; // forwards waiting for a report
  return {
    signal,
    parentGotIt() {
      reports = reports.filter((t) => Date.now() - t < SAME_SIGNAL_MS);
      if (reports.shift() !== undefined) return;
      const timer = setTimeout(() => {
        pending.splice(pending.indexOf(timer), 1);
        send();
      }, SAME_SIGNAL_MS);
      pending.push(timer);
    },
    childGotIt() {
      const timer = pending.shift();
      if (timer !== undefined) clearTimeout(timer);
      else reports.push(Date.now());
    },
    cancel() {
      pending.splice(0).forEach(clearTimeout);
    },
  };
}

function forward(child, signal) {
  try {
    child.kill(signal);
  } catch {
    // a signal this platform cannot send: the child is left to end by itself
  }
}

/**
 * In the run under the project's runtime: tells the parent each forwarded signal this process
 * receives. Where nothing else handles the signal, it then takes its default action (ends the
 * process), as it would without this listener.
 */
function reportSignalsToParent() {
  process.channel?.unref(); // the channel must not keep the CLI alive
  for (const signal of FORWARDED_SIGNALS) {
    const report = () => {
      if (process.connected) process.send({ cesyncSignal: signal }, () => {});
      if (process.listenerCount(signal) === 1) {
        process.off(signal, report);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, report);
  }
}
