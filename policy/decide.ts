// Reference decision of DESIGN.md's precedence, as a pure function over a compiled
// profile. The enforcer's BPF side implements the same decision; its tests check it
// against this one.
//
// A rule matches an access when its kind, container filter, fromSource, target and
// qualifiers all match:
//  - containers: empty, or naming the acting container;
//  - fromSource: '' or equal to the acting executable (for an exec: the caller's executable);
//  - target: path = exact full path; execname = base name of the exec'd path; directory =
//    the directory itself or a direct child, any descendant when recursive; pattern = glob
//    on the full path (policy/glob.ts: `*` and `?` within one component, `**` across
//    components, classes, {a,b}); protocol = one of the socket's protocols, or `all`; capability = equal name;
//  - readOnly (file rules) and ownerOnly, as KubeArmor means them (policy/qualifiers.ts): the
//    flags name what the rule permits (readOnly: reads; ownerOnly: the owner's accesses; both:
//    the owner's reads). An Allow rule matches that; a Block or Audit rule everything else.
// Among matching rules, the winner is the first by: 1. fromSource set beats none; 2. exact
// path (or execname) > deeper directory > shallower directory > pattern; 3. Block > Audit >
// Allow. With no matching rule: if any rule of that kind applying to the container is Allow
// (allow-list mode), the access gets the kind's posture; otherwise it is allowed.
import { globMatcher } from './glob.ts';
import { qualifies } from './qualifiers.ts';
import type { Action, Posture, Profile, ProfileRule, Protocol, RuleKind } from './types.ts';

export interface Access {
  kind: RuleKind;
  /** Name of the acting container; rules limited to other containers do not apply. */
  container?: string;
  /** Full path of the acting executable; for an exec, the executable calling exec. */
  source: string;
  /** process: full path of the executable being exec'd; file: full path of the file. */
  path?: string;
  /** file: the access changes the file (create, write-open, truncate, unlink, rename, link, chmod/chown). */
  write?: boolean;
  /** The acting user owns the file or executable (for ownerOnly rules). */
  owner?: boolean;
  /** network: the socket's protocols, e.g. ['raw', 'icmp'] for a raw ICMP socket. */
  protocols?: Protocol[];
  /** capabilities: lower-case name without CAP_, e.g. 'net_raw'. */
  capability?: string;
}

export type Verdict = 'allow' | 'audit' | 'block';

export interface Decision {
  verdict: Verdict;
  /** The rule that decided, or null when none matched. */
  rule: ProfileRule | null;
  /** True when no rule matched and the kind's posture decided (allow-list mode). */
  byPosture: boolean;
}

const ACTION_RANK: Record<Action, number> = { Allow: 1, Audit: 2, Block: 3 };
const VERDICT: Record<Action, Verdict> = { Allow: 'allow', Audit: 'audit', Block: 'block' };
const EXACT_RANK = 1_000_000;
const DIRECTORY_RANK = 1_000;

export function decide(profile: Profile, access: Access): Decision {
  const list = profile?.[access?.kind];
  if (!Array.isArray(list)) return { verdict: 'allow', rule: null, byPosture: false };
  const rules: ProfileRule[] = list;
  let best: ProfileRule | null = null;
  let bestRank: [number, number, number] = [-1, -1, -1];
  let allowList = false;
  for (const rule of rules) {
    if (!appliesToContainer(rule, access.container)) continue;
    if (rule.action === 'Allow') allowList = true;
    const specificity = matchSpecificity(rule, access);
    if (specificity < 0) continue;
    const rank: [number, number, number] = [rule.fromSource !== '' ? 1 : 0, specificity, ACTION_RANK[rule.action]];
    if (greater(rank, bestRank)) { best = rule; bestRank = rank; }
  }
  if (best !== null) return { verdict: VERDICT[best.action], rule: best, byPosture: false };
  if (allowList) return { verdict: postureVerdict(profile.posture[access.kind]), rule: null, byPosture: true };
  return { verdict: 'allow', rule: null, byPosture: false };
}

function postureVerdict(p: Posture): Verdict {
  return p === 'block' ? 'block' : 'audit';
}

function greater(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}

function appliesToContainer(rule: ProfileRule, container: string | undefined): boolean {
  return rule.containers.length === 0 || (container !== undefined && rule.containers.includes(container));
}

/** -1 when the rule does not match the access, else its specificity rank. */
function matchSpecificity(rule: ProfileRule, a: Access): number {
  if (rule.fromSource !== '' && rule.fromSource !== a.source) return -1;
  if (!qualifies(a.kind, rule.action, rule, a.write === true, a.owner === true)) return -1;
  const t = rule.target;
  switch (t.type) {
    case 'path':
      return a.path === t.path ? EXACT_RANK : -1;
    case 'execname':
      return a.path !== undefined && baseName(a.path) === t.name ? EXACT_RANK : -1;
    case 'directory': {
      const depth = inDirectory(a.path, t.dir, t.recursive);
      return depth < 0 ? -1 : DIRECTORY_RANK + depth;
    }
    case 'pattern':
      return a.path !== undefined && globMatches(t.pattern, a.path) ? 0 : -1;
    case 'protocol':
      return t.protocol === 'all' || (a.protocols ?? []).includes(t.protocol) ? 0 : -1;
    case 'capability':
      return a.capability === t.capability ? 0 : -1;
  }
}

function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Depth of `dir` (components) when `path` is the directory or lies in it, else -1. */
function inDirectory(path: string | undefined, dir: string, recursive: boolean): number {
  if (path === undefined) return -1;
  const d = dir.endsWith('/') ? dir : dir + '/';
  const depth = d.split('/').filter((s) => s !== '').length;
  if (path === d || path + '/' === d) return depth;
  if (!path.startsWith(d)) return -1;
  const rest = path.slice(d.length);
  if (rest === '') return depth;
  if (recursive) return depth;
  const slash = rest.indexOf('/');
  return slash < 0 || slash === rest.length - 1 ? depth : -1;
}

const globCache = new Map<string, (path: string) => boolean>();
const NEVER = (): boolean => false;

/** matchPatterns glob on a full path, with policy/glob.ts's syntax (the one validation
 *  checks); a pattern that does not compile matches nothing. */
export function globMatches(pattern: string, path: string): boolean {
  let m = globCache.get(pattern);
  if (m === undefined) {
    const r = globMatcher(pattern);
    m = r.ok ? r.value : NEVER;
    if (globCache.size > 10_000) globCache.clear();
    globCache.set(pattern, m);
  }
  return m(path);
}
