// Summary of a V8 CPU profile (`node --cpu-prof`): self time by file (or package) and by function.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  byFile: { where: string; ms: number; share: number }[];
  byFunction: { name: string; where: string; ms: number; share: number }[];
}

/** node_modules/<pkg>/... -> the package; dist/... or src/... -> the file; node:... -> node internals. */
function place(url: string, root: string): string {
  if (url === '') return '(native / V8)';
  const file = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + 'node_modules/'.length).split('/');
    return `npm:${parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  if (file.startsWith('node:')) return 'node internals';
  return path.isAbsolute(file) ? path.relative(root, file) : file;
}

export async function summariseProfile(file: string, root: string, top = 15): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  const files = new Map<string, number>();
  const fns = new Map<string, { name: string; where: string; ms: number }>();
  let total = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    const where = place(node.callFrame.url, root);
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)') continue;
    total += ms;
    files.set(where, (files.get(where) ?? 0) + ms);
    const key = `${name}@${where}:${node.callFrame.lineNumber + 1}`;
    const f = fns.get(key) ?? { name: `${name}:${node.callFrame.lineNumber + 1}`, where, ms: 0 };
    f.ms += ms;
    fns.set(key, f);
  }
  const share = (ms: number) => (total > 0 ? ms / total : 0);
  return {
    totalMs: total,
    byFile: [...files].map(([where, ms]) => ({ where, ms, share: share(ms) })).sort((a, b) => b.ms - a.ms).slice(0, top),
    byFunction: [...fns.values()].map((f) => ({ ...f, share: share(f.ms) })).sort((a, b) => b.ms - a.ms).slice(0, top),
  };
}
