// Hard links: a file a rule names by path keeps that rule under every other name it has in the
// container. The kernel decides by the path it resolves, so the enforcer finds the other names
// and adds, for the kernel only, the same rule on each of them (limited to that container):
//  - for each process or file rule naming an exact path that is a regular file with more than one link
//    (lstat through the container's root, /proc/<pid>/root), the other names of the same file
//    (same device and inode, as stat sees them through that root) are found by walking the
//    container's root filesystem and the filesystems those files are on (no other mount is
//    entered: a hard link never crosses filesystems); the walk stops once every such file's links are all found, or after
//    `maxEntries` entries (then `truncated`, and the caller reports it);
//  - files with one link cost one lstat each, no walk.
// Not covered here (docs/kubearmor-differences.md): names made after the scan by a process
// outside the pod (inside the pod, making a link to a protected file is itself a change of it,
// which the rule judges; linking a program a process rule names is refused, ag_link's guard),
// and files a directory rule or a pattern protects.
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import type { Profile, ProfileRule } from '../policy/types.ts';

export interface LinkStat { dev: bigint; ino: bigint; nlink: bigint; file: boolean; dir: boolean }

/** The filesystem calls the walk makes (injected by tests). */
export interface LinkFs {
  lstat(path: string): LinkStat | null;
  readdir(path: string): string[];
}

export const nodeLinkFs: LinkFs = {
  lstat(path) {
    try {
      const s = lstatSync(path, { bigint: true });
      return { dev: s.dev, ino: s.ino, nlink: s.nlink, file: s.isFile(), dir: s.isDirectory() };
    } catch {
      return null;
    }
  },
  readdir(path) {
    try {
      return readdirSync(path);
    } catch {
      return [];
    }
  },
};

export interface LinkAlias { rule: ProfileRule; path: string }
export interface LinkScan { aliases: LinkAlias[]; truncated: boolean; scanned: number }

/** Other names, under `root` (a container's root as this process sees it), of the files the
 *  rules (process or file) name by exact path. Paths in and out are the container's (absolute, without `root`). */
export function findLinkAliases(root: string, rules: readonly ProfileRule[], opts: { maxEntries?: number; fs?: LinkFs } = {}): LinkScan {
  const fs = opts.fs ?? nodeLinkFs;
  const maxEntries = opts.maxEntries ?? 200_000;
  const base = root.endsWith('/') ? root.slice(0, -1) : root;
  // identity → the rules naming it, the names known, the links it has
  const wanted = new Map<string, { rules: ProfileRule[]; names: Set<string>; nlink: bigint; dev: bigint }>();
  for (const rule of rules) {
    if (rule.target.type !== 'path') continue;
    const st = fs.lstat(base + rule.target.path);
    if (st === null || !st.file || st.nlink < 2n) continue;
    const id = `${st.dev}:${st.ino}`;
    const w = wanted.get(id) ?? { rules: [], names: new Set<string>(), nlink: st.nlink, dev: st.dev };
    w.rules.push(rule);
    w.names.add(rule.target.path);
    wanted.set(id, w);
  }
  if (wanted.size === 0) return { aliases: [], truncated: false, scanned: 0 };
  // directories to enter: the root's filesystem (on overlayfs a directory shows the overlay's
  // device while a file shows its layer's) and the filesystems of the files wanted (a volume)
  const rootSt = fs.lstat(base + '/');
  const dirDevs = new Set([...wanted.values()].map((w) => w.dev));
  if (rootSt !== null) dirDevs.add(rootSt.dev);
  const found = new Map<string, Set<string>>([...wanted.keys()].map((k) => [k, new Set<string>()]));
  const complete = (): boolean => [...wanted].every(([id, w]) => BigInt(found.get(id)!.size) >= w.nlink);
  let scanned = 0;
  let truncated = false;
  const stack: string[] = ['/'];
  walk: while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const name of fs.readdir(base + dir).sort()) {
      if (++scanned > maxEntries) { truncated = true; break walk; }
      const p = dir === '/' ? `/${name}` : `${dir}/${name}`;
      const st = fs.lstat(base + p);
      if (st === null) continue;
      if (st.dir) { if (dirDevs.has(st.dev)) stack.push(p); continue; }
      if (!st.file || st.nlink < 2n) continue;
      const names = found.get(`${st.dev}:${st.ino}`);
      if (names === undefined) continue;
      names.add(p);
      if (complete()) break walk;
    }
  }
  const aliases: LinkAlias[] = [];
  for (const [id, w] of wanted) {
    for (const p of [...found.get(id)!].sort()) {
      if (w.names.has(p)) continue;
      for (const rule of w.rules) aliases.push({ rule, path: p });
    }
  }
  return { aliases, truncated, scanned };
}

/** The profile the kernel gets: each alias as the same rule (of the same kind: a program a process
 *  rule names stays blocked under its other names) on the other name, limited to the container it
 *  was found in (a rule limited to other containers gives none). */
export function profileWithAliases(profile: Profile, found: readonly { container: string; aliases: readonly LinkAlias[] }[]): Profile {
  const processRules = new Set(profile.process);
  const extra: ProfileRule[] = [];
  const extraProcess: ProfileRule[] = [];
  const seen = new Set<string>();
  for (const { container, aliases } of found) {
    for (const { rule, path } of aliases) {
      if (rule.containers.length > 0 && !rule.containers.includes(container)) continue;
      const key = JSON.stringify([processRules.has(rule), path, rule.action, rule.readOnly, rule.ownerOnly, rule.fromSource, container, rule.policies]);
      if (seen.has(key)) continue;
      seen.add(key);
      (processRules.has(rule) ? extraProcess : extra).push({ ...rule, target: { type: 'path', path }, containers: [container] });
    }
  }
  if (extra.length === 0 && extraProcess.length === 0) return profile;
  return { ...profile, process: [...profile.process, ...extraProcess], file: [...profile.file, ...extra] };
}

/** A container's root as the enforcer (hostPID) sees it: /proc/<a process of its cgroup>/root. */
export function containerRoot(cgroupPath: string, read: (p: string) => string = (p) => readFileSync(p, 'utf8')): string | null {
  try {
    const pid = read(`${cgroupPath}/cgroup.procs`).split('\n').find((l) => l.trim() !== '');
    return pid === undefined ? null : `/proc/${pid.trim()}/root`;
  } catch {
    return null;
  }
}

/** The profile for the kernel with the linked names of each container whose cgroup is known;
 *  `truncated` names the containers whose walk stopped at its bound, `unreachable` those whose
 *  root could not be seen (no process in the cgroup, or no access to /proc/<pid>/root). */
export function podProfileWithLinks(profile: Profile, containers: readonly { name: string; cgroupPath?: string }[],
  opts: { root?: (cgroupPath: string) => string | null; maxEntries?: number; fs?: LinkFs } = {}): { profile: Profile; truncated: string[]; unreachable: string[]; aliases: number } {
  const rules = [...profile.process, ...profile.file].filter((r) => r.target.type === 'path');
  if (rules.length === 0) return { profile, truncated: [], unreachable: [], aliases: 0 };
  const found: { container: string; aliases: LinkAlias[] }[] = [];
  const truncated: string[] = [];
  const unreachable: string[] = [];
  for (const c of containers) {
    if (c.cgroupPath === undefined) continue;
    const root = (opts.root ?? containerRoot)(c.cgroupPath);
    // no process to see the root through, or its /proc/<pid>/root out of reach (no hostPID)
    if (root === null || (opts.fs ?? nodeLinkFs).lstat(root + '/') === null) { unreachable.push(c.name); continue; }
    const mine = rules.filter((r) => r.containers.length === 0 || r.containers.includes(c.name));
    const scan = findLinkAliases(root, mine, { ...(opts.maxEntries ? { maxEntries: opts.maxEntries } : {}), ...(opts.fs ? { fs: opts.fs } : {}) });
    if (scan.truncated) truncated.push(c.name);
    found.push({ container: c.name, aliases: scan.aliases });
  }
  return { profile: profileWithAliases(profile, found), truncated, unreachable, aliases: found.reduce((n, f) => n + f.aliases.length, 0) };
}
