// Where everything the service scripts manage lives on disk.
//
// Contract: every download, install, config, data file, log and pid file sits under one folder,
// `.services/` at the repository root, so that removing that folder resets the machine to a clean
// state and a single .gitignore line keeps it out of version control.
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** Repository root: two levels above this file (scripts/services/). */
export const repoRoot: string = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Root of all service state. CESYNC_SERVICES_DIR moves it (absolute, or relative to the repo). */
export const servicesDir: string = path.resolve(repoRoot, process.env.CESYNC_SERVICES_DIR ?? '.services');

/** Per-service base folder, e.g. `.services/cassandra`. */
export function serviceDir(name: string): string {
  return path.join(servicesDir, name);
}
