// Policy validation: JSON Schema (policy/schema.ts) first, then the semantic checks that a
// schema cannot express. Pure; never throws; returns every problem at once, each with a
// dotted field path. The checks are listed, with their ids (R*, S*, V*), in
// docs/validation-checks.md.
import { globProblem } from './glob.ts';
import { patternTable } from './pattern-dfa.ts';
import { KERNEL_LIMITS, byteLength, canonicalPath, mergeSlot, type SlotEntry } from './kernel-limits.ts';
import { childPath } from './paths.ts';
import { validatePolicySchema } from './schema.ts';
import type { Action, Policy, PolicyKind, Problem } from './types.ts';
import { POLICY_API_VERSION } from './types.ts';

export const POLICY_KINDS: readonly PolicyKind[] = ['KubeArmorPolicy', 'KubeArmorClusterPolicy', 'KubeArmorHostPolicy'];

/** Preset names KubeArmor defines. */
export const KNOWN_PRESETS: readonly string[] = ['anonMapExec', 'exec', 'filelessExec', 'protectEnv', 'protectProc'];

/** Network protocol names, lower case, as the CRD's pattern lists them. */
export const PROTOCOL_NAMES: readonly string[] = ['tcp', 'udp', 'icmp', 'icmpv6', 'raw', 'sctp', 'stream', 'dgram', 'rdm', 'seqpacket', 'dccp', 'packet', 'all'];

/** Capability names, lower case without CAP_, as the CRD's pattern lists them. */
export const CAPABILITY_NAMES: readonly string[] = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap',
  'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner',
  'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
  'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap',
  'mac_override', 'mac_admin',
];

/** Limits on a policy document, checked before the schema runs. */
export const LIMITS = {
  /** Deepest nesting of mappings and lists (a real policy needs 7). */
  depth: 32,
  /** Mappings, lists and scalars in one document. */
  nodes: 200_000,
  /** Characters of all strings and keys together (the API server takes 3 MiB requests). */
  textChars: 3 * 1024 * 1024,
} as const;

/** A warning, written `FIELD.PATH: message` as the webhook returns it to kubectl, stays under
 *  this length (Kubernetes may truncate longer admission warnings). */
export const MAX_WARNING_LENGTH = 120;

export interface ValidationResult {
  /** The policy (nulls pruned, as the API server stores it) when no problem is an error. */
  policy: Policy | null;
  problems: Problem[];
}

const KIND_SET: ReadonlySet<string> = new Set(POLICY_KINDS);
const PRESET_SET: ReadonlySet<string> = new Set(KNOWN_PRESETS);
const PROTOCOL_SET: ReadonlySet<string> = new Set(PROTOCOL_NAMES);
const CAPABILITY_SET: ReadonlySet<string> = new Set(CAPABILITY_NAMES);

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a document is one of the policy kinds ArmorGate validates (by its kind). */
export function isPolicyDocument(doc: unknown): boolean {
  return isRecord(doc) && typeof doc.kind === 'string' && KIND_SET.has(doc.kind);
}

/** Validates one policy document: schema, then semantics. Never throws. */
export function validatePolicy(doc: unknown): ValidationResult {
  try {
    return validateUnsafe(doc);
  } catch (e) {
    // Defence in depth: every known input is handled above; a bug must not crash a daemon.
    return { policy: null, problems: [error('', `validation failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`)] };
  }
}

function validateUnsafe(doc: unknown): ValidationResult {
  if (!isRecord(doc)) return { policy: null, problems: [error('', `a policy must be a mapping, not ${Array.isArray(doc) ? 'a list' : doc === null ? 'empty' : typeof doc}`)] };
  const size = measure(doc);
  if (size.problem !== null) return { policy: null, problems: [size.problem] }; // R2
  const value = size.hasNull ? pruneNulls(doc) : doc; // R3

  const kind = value.kind;
  if (typeof kind !== 'string' || !KIND_SET.has(kind)) {
    const problems = [error('kind', kind === undefined ? 'is required' : `must be one of ${POLICY_KINDS.join(', ')}, not ${JSON.stringify(kind)}`)];
    if (value.apiVersion !== POLICY_API_VERSION) problems.push(error('apiVersion', value.apiVersion === undefined ? 'is required' : `must be "${POLICY_API_VERSION}"`));
    return { policy: null, problems };
  }
  const schemaProblems = validatePolicySchema(kind as PolicyKind, value); // S1-S6
  if (schemaProblems.length > 0) {
    // Every problem at once: the semantic checks read the spec defensively, so they also run
    // on a spec the schema refused; their findings on fields the schema already named are dropped.
    return { policy: null, problems: [...schemaProblems, ...semanticBesides(schemaProblems, value)] };
  }

  // The CRD lets spec be omitted (or left empty, which the API server prunes).
  const policy = (value.spec === undefined ? { ...value, spec: {} } : value) as Policy;
  const problems = semanticProblems(policy);
  return { policy: problems.some((p) => p.level === 'error') ? null : policy, problems };
}

/** Semantic problems of a schema-invalid document, minus those at or under a field the schema
 *  already reported (and none at all when the spec is not a mapping). */
function semanticBesides(schemaProblems: readonly Problem[], value: Rec): Problem[] {
  if (value.spec !== undefined && !isRecord(value.spec)) return [];
  let extra: Problem[];
  try {
    extra = semanticProblems((value.spec === undefined ? { ...value, spec: {} } : value) as Policy);
  } catch {
    return [];
  }
  const covered = (path: string): boolean =>
    schemaProblems.some((s) => s.path === path || path.startsWith(`${s.path}.`) || path.startsWith(`${s.path}[`) || s.path.startsWith(`${path}.`));
  return extra.filter((p) => !covered(p.path));
}

// ---------------------------------------------------------------- size limits and nulls

interface Measure { problem: Problem | null; hasNull: boolean }

/** Walks the document once: depth, node count and text size limits; whether any null is in it.
 *  The path of the current value is kept as a stack of keys and spelled out only on a problem. */
function measure(doc: Rec): Measure {
  let nodes = 0;
  let chars = 0;
  let hasNull = false;
  let problem: Problem | null = null;
  const keys: (string | number)[] = [];
  const fail = (message: string): void => {
    problem = error(keys.reduce<string>((p, k) => childPath(p, k), ''), message);
  };
  const walk = (v: unknown, depth: number): void => {
    if (++nodes > LIMITS.nodes) { problem = error('', `policy too large: more than ${LIMITS.nodes} values`); return; }
    if (v === null) { hasNull = true; return; }
    if (typeof v === 'string') {
      chars += v.length;
      if (chars > LIMITS.textChars) fail(`policy too large: more than ${LIMITS.textChars} characters of text`);
      return;
    }
    if (typeof v !== 'object') return;
    if (depth >= LIMITS.depth) { fail(`nested deeper than ${LIMITS.depth} levels`); return; }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        keys.push(i);
        walk(v[i], depth + 1);
        if (problem !== null) return;
        keys.pop();
      }
      return;
    }
    const own = Object.keys(v);
    for (let i = 0; i < own.length; i++) {
      const k = own[i] as string;
      chars += k.length;
      keys.push(k);
      walk((v as Rec)[k], depth + 1);
      if (problem !== null) return;
      keys.pop();
    }
  };
  walk(doc, 0);
  return { problem, hasNull };
}

/** A copy without the mapping entries whose value is null, as the API server prunes them.
 *  (A null inside a list stays: the schema then rejects it, as the API server does.) */
function pruneNulls<T>(v: T): T {
  if (Array.isArray(v)) return v.map(pruneNulls) as T;
  if (!isRecord(v)) return v;
  const out: Rec = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null) continue;
    // A "__proto__" key (JSON.parse makes it an own property) stays a plain field, so
    // that the schema reports it instead of it becoming the copy's prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: pruneNulls(x), enumerable: true, writable: true, configurable: true });
    else out[k] = pruneNulls(x);
  }
  return out as T;
}

// ---------------------------------------------------------------- semantic checks

function error(path: string, message: string): Problem {
  return { level: 'error', path, message };
}

function warning(path: string, message: string): Problem {
  const room = MAX_WARNING_LENGTH - 1 - (path === '' ? 0 : path.length + 2);
  return { level: 'warning', path, message: message.length <= room ? message : `${message.slice(0, Math.max(room - 3, 0))}...` };
}

function quote(s: string, max = 40): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max - 3)}...` : s);
}

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const rec = (v: unknown): Rec => (isRecord(v) ? v : {});

/** V10: the warnings for `fromSource:` left null in raw YAML (only the CLI sees those). */
export function nullFromSourceWarnings(paths: readonly string[]): Problem[] {
  return paths.map((p) => warning(p, 'left empty (null), so dropped: the rule applies to every source'));
}

/** The entries of a protocol or capability value: comma lists split, trimmed, lower-cased,
 *  a capability's CAP_ prefix dropped. The compiler makes one rule per entry. */
export function listEntries(value: string, kind: 'protocol' | 'capability'): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    let e = raw.trim().toLowerCase();
    if (kind === 'capability' && e.startsWith('cap_')) e = e.slice(4);
    if (e !== '') out.push(e);
  }
  return out;
}

/** The semantic checks of a policy that passed its schema. Pure: every problem at once. */
export function semanticProblems(policy: Policy): Problem[] {
  const problems: Problem[] = [];
  const spec = policy.spec;
  const specAction = spec.action as Action | undefined;
  const conflicts = new Conflicts(problems);
  let enforceable = 0;

  // process
  const process = rec(spec.process);
  const processAction = (process.action as Action | undefined) ?? specAction;
  arr(process.matchPaths).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.process.matchPaths', i);
    const hasPath = typeof r.path === 'string';
    const hasExec = typeof r.execname === 'string';
    // V1
    if (hasPath && hasExec) problems.push(error(at, 'has both path and execname: give exactly one'));
    else if (!hasPath && !hasExec) problems.push(error(at, 'needs a path or an execname'));
    else {
      enforceable++;
      const target = hasPath ? kernelPath(problems, childPath(at, 'path'), String(r.path), false)
        : tooLong(problems, childPath(at, 'execname'), String(r.execname), 'execname') ? null : String(r.execname);
      if (target !== null) conflicts.add(at, hasPath ? 'process path' : 'process execname', target, r, processAction, problems);
    }
    if (arr(r.allowedArgs).length > 0) problems.push(warning(childPath(at, 'allowedArgs'), 'allowedArgs is not enforced yet: the rule ignores arguments'));
    ptsWarning(problems, at, r);
  });
  arr(process.matchDirectories).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.process.matchDirectories', i);
    enforceable++;
    const dir = kernelPath(problems, childPath(at, 'dir'), String(r.dir), true);
    if (dir !== null) conflicts.add(at, 'process dir', dir, r, processAction, problems);
    ptsWarning(problems, at, r);
  });
  arr(process.matchPatterns).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.process.matchPatterns', i);
    if (patternOk(problems, at, r)) { enforceable++; conflicts.add(at, 'process pattern', String(r.pattern), r, processAction, problems); }
  });
  patternLimits(problems, 'process', 'spec.process.matchPatterns', arr(process.matchPatterns), processAction); // V16

  // file
  const file = rec(spec.file);
  const fileAction = (file.action as Action | undefined) ?? specAction;
  arr(file.matchPaths).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.file.matchPaths', i);
    enforceable++;
    const path = kernelPath(problems, childPath(at, 'path'), String(r.path), false);
    if (path !== null) conflicts.add(at, 'file path', path, r, fileAction, problems);
    ptsWarning(problems, at, r);
  });
  arr(file.matchDirectories).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.file.matchDirectories', i);
    enforceable++;
    const dir = kernelPath(problems, childPath(at, 'dir'), String(r.dir), true);
    if (dir !== null) conflicts.add(at, 'file dir', dir, r, fileAction, problems);
    ptsWarning(problems, at, r);
  });
  arr(file.matchPatterns).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.file.matchPatterns', i);
    if (patternOk(problems, at, r)) { enforceable++; conflicts.add(at, 'file pattern', String(r.pattern), r, fileAction, problems); }
  });
  patternLimits(problems, 'file', 'spec.file.matchPatterns', arr(file.matchPatterns), fileAction); // V16

  // network
  const network = rec(spec.network);
  const networkAction = (network.action as Action | undefined) ?? specAction;
  arr(network.matchProtocols).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.network.matchProtocols', i);
    for (const p of listValue(problems, childPath(at, 'protocol'), String(r.protocol), 'protocol', PROTOCOL_SET)) {
      enforceable++;
      conflicts.add(at, 'network protocol', p, r, networkAction, problems);
    }
    ptsWarning(problems, at, r);
  });
  if (arr(network.matchDNSQueries).length > 0) {
    problems.push(warning('spec.network.matchDNSQueries', 'DNS rules are validated but not enforced yet'));
  }

  // capabilities
  const capabilities = rec(spec.capabilities);
  const capabilitiesAction = (capabilities.action as Action | undefined) ?? specAction;
  arr(capabilities.matchCapabilities).forEach((r0, i) => {
    const r = rec(r0);
    const at = childPath('spec.capabilities.matchCapabilities', i);
    for (const c of listValue(problems, childPath(at, 'capability'), String(r.capability), 'capability', CAPABILITY_SET)) {
      enforceable++;
      conflicts.add(at, 'capabilities capability', c, r, capabilitiesAction, problems);
    }
  });

  // V6: validated, not enforced yet
  if (spec.syscalls !== undefined) problems.push(warning('spec.syscalls', 'syscalls rules are validated but not enforced yet'));
  if (spec.apparmor !== undefined) problems.push(warning('spec.apparmor', 'apparmor is validated but not enforced yet'));
  if (spec.device !== undefined) problems.push(warning('spec.device', 'device rules are validated but not enforced yet'));
  const presets = arr(spec.presets);
  if (presets.length > 0) problems.push(warning('spec.presets', 'presets are validated but not enforced yet'));
  presets.forEach((p0, i) => {
    const name = rec(p0).name;
    if (typeof name === 'string' && !PRESET_SET.has(name)) { // V9
      problems.push(warning(childPath(childPath('spec.presets', i), 'name'), `unknown preset ${quote(name, 16)}; known: ${KNOWN_PRESETS.join(', ')}`));
    } else if (name === undefined) {
      problems.push(warning(childPath('spec.presets', i), 'preset without a name does nothing'));
    }
  });

  // selectors
  selectorWarnings(problems, spec);
  conflicts.slotProblems(); // V15

  if (policy.kind === 'KubeArmorHostPolicy') {
    problems.push(warning('kind', 'host policies are validated but not enforced yet: ArmorGate enforces pods'));
  } else if (enforceable === 0) { // V5
    problems.push(warning('spec', 'no enforceable rule: this policy changes nothing (only process, file, network, capabilities are)'));
  }
  // a rule checked once per protocol or capability entry reports its fields' problems once
  const seen = new Set<string>();
  return problems.filter((p) => { const k = `${p.level}\n${p.path}\n${p.message}`; if (seen.has(k)) return false; seen.add(k); return true; });
}

/** V13, V14: a path or directory as the kernel compares it. `//`, `/./` and a trailing `/.`
 *  are normalized (the compiler does the same) with a warning giving the canonical form; a
 *  `..` component is refused (symlinks make it ambiguous); longer than the kernel can compare
 *  is refused. Returns the canonical form, or null when refused. */
function kernelPath(problems: Problem[], at: string, raw: string, dir: boolean): string | null {
  const c = canonicalPath(raw, dir);
  if (c.dotdot) { problems.push(error(at, `has a ".." component: refused (symlinks make it ambiguous); name the path itself`)); return null; }
  if (c.path !== raw) problems.push(warning(at, `not canonical: enforced as ${quote(c.path, 60)}`));
  return tooLong(problems, at, c.path, dir ? 'directory' : 'path') ? null : c.path;
}

/** V14: the kernel compares at most KERNEL_LIMITS.pathBytes bytes (a directory with its '/'). */
function tooLong(problems: Problem[], at: string, text: string, what: string): boolean {
  const n = byteLength(what === 'directory' && !text.endsWith('/') ? text + '/' : text);
  if (n <= KERNEL_LIMITS.pathBytes) return false;
  problems.push(error(at, `${what} of ${n} bytes: the kernel's limit is ${KERNEL_LIMITS.pathBytes} (AG_PATH_MAX)`));
  return true;
}

function ptsWarning(problems: Problem[], at: string, r: Rec): void {
  if (r.pts === true) problems.push(warning(childPath(at, 'pts'), 'pts is not enforced yet: the rule applies with or without a terminal'));
}

/** V16: the kind's patterns compile into the kernel's automaton (bpf/pattern.h) within its
 *  bounds; the error names the pattern at fault (or the count, when only all together do not fit). */
function patternLimits(problems: Problem[], kind: 'process' | 'file', at: string, list: unknown[], sectionAction: Action | undefined): void {
  const items: { at: string; pattern: string; source: string; entry: SlotEntry }[] = [];
  list.forEach((r0, i) => {
    const r = rec(r0);
    const pattern = String(r.pattern);
    if (globProblem(pattern) !== null) return; // V2 said why
    const action = (r.action as Action | undefined) ?? sectionAction ?? 'Block';
    const entry: SlotEntry = { action, readOnly: kind === 'file' && r.readOnly === true, ownerOnly: r.ownerOnly === true, recursive: false };
    const sources = arr(r.fromSource).map((x) => String(rec(x).path ?? '')).filter((x) => x !== '');
    for (const source of sources.length === 0 ? [''] : sources) items.push({ at: childPath(at, i), pattern, source, entry });
  });
  if (items.length === 0) return;
  const t = patternTable(kind, items, { pattern: (x) => x.pattern, source: (x) => x.source, entry: (x) => x.entry, covers: () => true, breadth: () => 1 });
  if (t.ok) return;
  const named = items.find((x) => t.error.message.startsWith(`pattern ${JSON.stringify(x.pattern)}`));
  problems.push(error(named !== undefined ? childPath(named.at, 'pattern') : at, `${t.error.message} (${t.error.code})`));
}

function patternOk(problems: Problem[], at: string, r: Rec): boolean {
  const why = globProblem(String(r.pattern)); // V2
  if (why === null) return true;
  problems.push(error(childPath(at, 'pattern'), `invalid glob: ${why}`));
  return false;
}

/** The usable entries of a protocol/capability value, warning about comma lists and unknown names. */
function listValue(problems: Problem[], at: string, value: string, kind: 'protocol' | 'capability', known: ReadonlySet<string>): string[] {
  const entries = listEntries(value, kind);
  if (value.includes(',')) { // V7
    problems.push(warning(at, `${quote(value, 20)} is a comma list: one rule per entry here, maybe not in KubeArmor`));
  }
  const good: string[] = [];
  for (const e of entries) {
    if (known.has(e)) good.push(e);
    else problems.push(warning(at, /* V8 */ `${quote(e, 20)} is not a ${kind} name: it matches nothing, skipped`));
  }
  return good;
}

function selectorWarnings(problems: Problem[], spec: Rec): void {
  const exprs = arr(rec(spec.selector).matchExpressions);
  let seenIn = false;
  exprs.forEach((x0, i) => {
    const x = rec(x0);
    const at = childPath('spec.selector.matchExpressions', i);
    if (x.operator === 'In') {
      seenIn = true;
      if (arr(x.values).length === 0) problems.push /* V11 */(warning(childPath(at, 'values'), 'In with no values matches nothing: the policy binds no pod'));
    } else if (x.operator === 'NotIn' && seenIn) { // V12
      problems.push(warning(at, 'KubeArmor ignores a NotIn after an In; ArmorGate applies it'));
    }
  });
}

/** V3, V4: finds two rules of one policy with the same target but different actions. Allow
 *  against Block or Audit is an error (the policy contradicts itself); Audit against Block
 *  is a warning (Block always wins, so the Audit rule never shows).
 *  Rules are grouped by the target's own string (whose hash V8 keeps), so no key is built
 *  per rule; the few rules sharing a target are compared field by field. */
class Conflicts {
  // group -> target -> the rules seen with it (one object until a second rule shares the target)
  private readonly groups = new Map<TargetGroup, Map<string, SeenRule | SeenRule[]>>();
  private readonly problems: Problem[];

  constructor(problems: Problem[]) {
    this.problems = problems;
  }

  add(at: string, group: TargetGroup, target: string, r: Rec, inherited: Action | undefined, problems: Problem[]): void {
    const action = (r.action as Action | undefined) ?? inherited ?? 'Block';
    const flags = (r.readOnly === true ? 1 : 0) | (r.ownerOnly === true ? 2 : 0) | (r.recursive === true ? 4 : 0);
    let byTarget = this.groups.get(group);
    if (byTarget === undefined) this.groups.set(group, (byTarget = new Map()));
    const sources = Array.isArray(r.fromSource) ? r.fromSource : [];
    const entry: SlotEntry = { action, readOnly: group === 'file path' || group === 'file dir' || group === 'file pattern' ? r.readOnly === true : false, ownerOnly: r.ownerOnly === true, recursive: r.recursive === true };
    let any = false;
    const seen = new Set<string>();
    sources.forEach((s, j) => {
      const raw = isRecord(s) ? s.path : undefined;
      if (typeof raw !== 'string' || raw === '') return;
      any = true;
      const src = kernelPath(problems, childPath(childPath(childPath(at, 'fromSource'), j), 'path'), raw, false);
      if (src === null || seen.has(src)) return;
      seen.add(src);
      this.check(byTarget, target, { action, path: at, src, flags });
      this.slot(group, target, src, entry, at);
    });
    if (!any) { this.check(byTarget, target, { action, path: at, src: '', flags }); this.slot(group, target, '', entry, at); }
  }

  // V15: the rules of each kernel slot (kind, target, fromSource), patterns aside
  private readonly slots = new Map<string, { entries: SlotEntry[]; at: string[] }>();

  private slot(group: TargetGroup, target: string, src: string, e: SlotEntry, at: string): void {
    if (group.endsWith(' pattern')) return;
    const id = JSON.stringify([group, target, src]);
    let s = this.slots.get(id);
    if (s === undefined) this.slots.set(id, (s = { entries: [], at: [] }));
    // an identical entry merges into one profile rule
    if (s.entries.some((x) => x.action === e.action && x.readOnly === e.readOnly && x.ownerOnly === e.ownerOnly && x.recursive === e.recursive)) return;
    s.entries.push(e);
    s.at.push(at);
  }

  /** V15: more rules that each decide something on one kernel slot than it holds. */
  slotProblems(): void {
    for (const [id, s] of this.slots) {
      if (s.entries.length <= KERNEL_LIMITS.rulesPerKey) continue;
      const [group, target, src] = JSON.parse(id) as [string, string, string];
      const kind = group.split(' ')[0] as 'process' | 'file' | 'network' | 'capabilities';
      const kept = mergeSlot(kind, s.entries, (x) => x, () => true, () => 0);
      if (kept.length <= KERNEL_LIMITS.rulesPerKey) continue;
      const at = kept.map((i) => s.at[i]!).sort();
      this.problems.push(error(at[KERNEL_LIMITS.rulesPerKey]!, `${kept.length} rules on ${group} ${quote(target, 60)}${src === '' ? '' : ` fromSource ${quote(src, 60)}`} (${at.join(', ')}): the kernel holds at most ${KERNEL_LIMITS.rulesPerKey} (AG_MAX_ENT)`));
    }
  }

  private check(byTarget: Map<string, SeenRule | SeenRule[]>, target: string, rule: SeenRule): void {
    const seen = byTarget.get(target);
    if (seen === undefined) { byTarget.set(target, rule); return; }
    const list = Array.isArray(seen) ? seen : [seen];
    if (!Array.isArray(seen)) byTarget.set(target, list);
    const prior = list.find((x) => x.src === rule.src && x.flags === rule.flags);
    if (prior === undefined) { list.push(rule); return; }
    if (prior.action === rule.action) return;
    const from = rule.src === '' ? '' : ` (fromSource ${quote(rule.src, 30)})`;
    if (prior.action === 'Allow' || rule.action === 'Allow') {
      this.problems.push(error(rule.path, `${rule.action} contradicts ${prior.action} of ${prior.path} on the same target${from}`));
    } else {
      this.problems.push(warning(rule.path, `same target as ${prior.path} (${prior.action}): Block wins`));
    }
  }
}

type TargetGroup = 'process path' | 'process execname' | 'process dir' | 'process pattern' | 'file path' | 'file dir' | 'file pattern' | 'network protocol' | 'capabilities capability';
interface SeenRule { action: Action; path: string; src: string; flags: number }
