// A cross-process lock around start/stop, so that two concurrent callers (two terminals, or two
// test runs) do not fetch into the same folder or launch the same server twice.
import fs from 'node:fs';
import path from 'node:path';
import { servicesDir } from './paths.ts';
import { isAlive, log, readPid, sleep } from './proc.ts';

const lockFile = path.join(servicesDir, 'services.lock');

function lockAgeMs(): number {
  try {
    return Date.now() - fs.statSync(lockFile).mtimeMs;
  } catch {
    return Infinity;
  }
}

/**
 * Runs `fn` while holding `.services/services.lock` (created exclusively, holding our pid). A lock
 * left by a dead process is taken over; a live holder is waited for up to `timeoutMs`.
 */
export async function withLock<T>(fn: () => Promise<T>, timeoutMs = 15 * 60 * 1000): Promise<T> {
  fs.mkdirSync(servicesDir, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readPid(lockFile);
    // An empty lock file is one being written right now, unless it has been empty for a while.
    if (holder === undefined ? lockAgeMs() > 5000 : !isAlive(holder)) {
      fs.rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${lockFile} (held by pid ${holder ?? '?'})`);
    if (!announced) {
      log(`waiting for another services command (pid ${holder}) to finish`);
      announced = true;
    }
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    if (readPid(lockFile) === process.pid) fs.rmSync(lockFile, { force: true });
  }
}
