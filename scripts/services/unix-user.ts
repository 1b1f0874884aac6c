// The unprivileged account Elasticsearch runs as when these scripts run as root.
//
// Elasticsearch refuses to start as root. Rather than asking for a manual setup step, a system
// account is created on demand (idempotently) and the server's folder is handed to it.
import { run, runChecked } from './proc.ts';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Creates system user `name` (no home, no login shell) unless it exists. Requires root. */
export async function ensureSystemUser(name: string): Promise<void> {
  const probe = await run('id', ['-u', name]);
  if (probe.code === 0) return;
  const created = await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  // Exit 9: created concurrently by someone else in the meantime, which is just as good.
  if (created.code !== 0 && created.code !== 9) {
    throw new Error(`useradd ${name} failed (exit ${created.code}): ${created.stderr.trim()}`);
  }
}

/** Gives `path` (recursively) to `user` and its group. */
export async function chownTree(path: string, user: string): Promise<void> {
  await runChecked('chown', ['-R', `${user}:${user}`, path]);
}
