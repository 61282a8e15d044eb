// The profile compiler: from the policies selected for a pod to one canonical, sorted,
// deduplicated Profile and the armorgate.io/* annotations of DESIGN.md.
//
// Rules of KubeArmor's spec become ProfileRules:
//   process.matchPaths (path | execname), process.matchDirectories, process.matchPatterns,
//   file.matchPaths, file.matchDirectories, file.matchPatterns, network.matchProtocols,
//   capabilities.matchCapabilities. (syscalls, presets, DNS and apparmor are validated,
//   not enforced: validation warns about them.)
// Inheritance: action, severity, tags and message come from the rule, else its section,
//   else the spec; a missing action is Block, a missing severity 0, tags/message empty.
// A rule with N fromSource paths becomes N rules (fromSource '' when there is none).
// Protocols are lower-cased; capabilities lower-cased without CAP_; a comma list in either
//   (which KubeArmor expands) becomes one rule per entry.
// Dedup: rules equal in (kind, action, target, readOnly, ownerOnly, fromSource,
//   containers) merge: policies and tags are sorted unions, severity the maximum, message
//   the first non-empty one in policy order (policies ordered by ID; within one policy,
//   the smallest non-empty message), so that the result never depends on input order.
// Order: each kind's rules are sorted by the code-unit order of the JSON array
//   [target type, target fields..., fromSource, readOnly, ownerOnly, action, containers],
//   a total order on deduplicated rules.
import { ANNOTATIONS_MAX_BYTES, ANNOTATION_PREFIX, ANN_ALLOW_OPT_OUT, ANN_POLICIES, ANN_POSTURE, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE, ANN_TRACEPARENT, KUBEARMOR_OPT_OUT } from './annotations.ts';
import { patternTable } from './pattern-dfa.ts';
import { KERNEL_LIMITS, byteLength, canonicalPath, containersCover, mergeSlot, ruleEntry, slotId } from './kernel-limits.ts';
import { formatPosture, namespacePosture, namespacePostureWarnings } from './posture.ts';
import { podVisibility } from './visibility.ts';
import { MAX_DECODED_PROFILE_BYTES, encodeCanonicalBytes, profileBytesFromRules, ruleJson } from './profile-codec.ts';
import { compareStrings, podNamespace, policyId, selectPolicies } from './select.ts';
import type { Selected } from './select.ts';
import { signProfile } from './sign.ts';
import { err, ok } from './types.ts';
import type { Action, Namespace, Pod, Policy, PostureSet, Profile, ProfileRule, Protocol, Result, RuleKind, Target, VisibilityKind } from './types.ts';

export interface CompileOptions {
  defaultPosture: PostureSet;
  /** Visibility logs when neither the pod nor its namespace has a kubearmor-visibility annotation (default none). */
  defaultVisibility?: readonly VisibilityKind[];
  /** HMAC key shared with the enforcers; without one the signature annotation is left out. */
  signingKey?: Uint8Array | null;
}

export interface CompileResult {
  /** The pod opted out (kubearmor-policy: disabled in a namespace that allows it). */
  optedOut: boolean;
  /** The armorgate.io/* annotations to set (no traceparent: the webhook adds it); empty when opted out. */
  annotations: Record<string, string>;
  /** The compiled profile. Its rule objects may be shared with other compilations and are
   *  frozen: copy before changing anything. */
  profile: Profile | null;
  /** Bound policies, as listed in armorgate.io/policies (`NS/NAME@GEN`, `NAME@GEN`), sorted. */
  bound: string[];
  warnings: string[];
}

/** Length of a W3C traceparent value ("00-" + 32 + "-" + 16 + "-" + 2 hex digits). */
const TRACEPARENT_LENGTH = 55;

const PROTOCOLS: ReadonlySet<string> = new Set<Protocol>(['tcp', 'udp', 'icmp', 'icmpv6', 'raw', 'sctp', 'stream', 'dgram', 'rdm', 'seqpacket', 'dccp', 'packet', 'all']);

/** One rule of one policy, inheritance applied, before merging. */
interface PolicyRule {
  kind: RuleKind;
  key: string;
  action: Action;
  target: Target;
  readOnly: boolean;
  ownerOnly: boolean;
  fromSource: string;
  severity: number;
  tags: string[];
  message: string;
  /** The rule as this policy alone contributes it, by container filter (see Single). */
  singles?: Map<string, Single>;
}

interface PolicyRules {
  rules: PolicyRule[];
  warnings: string[];
  /** policyId() and policyRef() of the policy. */
  id: string;
  ref: string;
}

/** Policies are immutable once validated; the webhook reuses the same objects for every
 *  pod, so their rules are extracted once. */
const rulesCache = new WeakMap<object, PolicyRules>();

type Rec = Record<string, unknown>;
const isRecord = (v: unknown): v is Rec => v !== null && typeof v === 'object' && !Array.isArray(v);
const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function asAction(v: unknown): Action | undefined {
  if (typeof v !== 'string') return undefined;
  const l = v.toLowerCase();
  return l === 'allow' ? 'Allow' : l === 'audit' ? 'Audit' : l === 'block' ? 'Block' : undefined;
}
function asSeverity(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 10 ? v : undefined;
}
function asTags(v: unknown): string[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const t = v.filter((x): x is string => typeof x === 'string' && x !== '');
  return t.length > 0 ? t : undefined;
}
function nonEmptyStr(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
function sortedUnique(a: Iterable<string>): string[] {
  return [...new Set(a)].sort(compareStrings);
}

function targetKey(t: Target): unknown[] {
  switch (t.type) {
    case 'path': return ['path', t.path];
    case 'execname': return ['execname', t.name];
    case 'directory': return ['directory', t.dir, t.recursive];
    case 'pattern': return ['pattern', t.pattern];
    case 'protocol': return ['protocol', t.protocol];
    case 'capability': return ['capability', t.capability];
  }
}

/** Extracts the rules of one policy, with inheritance applied. */
export function policyRules(policy: Policy): PolicyRules {
  const cached = rulesCache.get(policy);
  if (cached !== undefined) return cached;
  const id = policyId(policy);
  const out: PolicyRules = { rules: [], warnings: [], id, ref: policyRef(policy) };
  const spec: Rec = isRecord(policy?.spec) ? policy.spec : {};

  const section = (kind: RuleKind, name: string, entries: string[], toTargets: (r: Rec, at: string) => Target[], opts: { readOnly: boolean; fromSource: boolean }): void => {
    const sec = spec[name];
    if (!isRecord(sec)) return;
    for (const field of entries) {
      asList(sec[field]).forEach((r, i) => {
        if (!isRecord(r)) return;
        const at = `spec.${name}.${field}[${i}]`;
        const action = asAction(r['action']) ?? asAction(sec['action']) ?? asAction(spec['action']) ?? 'Block';
        const severity = asSeverity(r['severity']) ?? asSeverity(sec['severity']) ?? asSeverity(spec['severity']) ?? 0;
        const tags = sortedUnique(asTags(r['tags']) ?? asTags(sec['tags']) ?? asTags(spec['tags']) ?? []);
        const message = nonEmptyStr(r['message']) ?? nonEmptyStr(sec['message']) ?? nonEmptyStr(spec['message']) ?? '';
        const readOnly = opts.readOnly && r['readOnly'] === true;
        const ownerOnly = r['ownerOnly'] === true;
        const sources = opts.fromSource
          ? sortedUnique(asList(r['fromSource']).map((s) => (isRecord(s) ? str(s['path']) : undefined)).filter((p): p is string => p !== undefined && p !== '')
            .map((p) => canonical(p, false, `${at}.fromSource`)).filter((p): p is string => p !== null))
          : [];
        if (opts.fromSource && sources.length === 0 && asList(r['fromSource']).some((s) => isRecord(s) && nonEmptyStr(s['path']) !== undefined)) {
          out.warnings.push(`${id}: ${at}.fromSource: no usable path; rule skipped`);
          return;
        }
        const targets = toTargets(r, at);
        for (const target of targets) {
          for (const fromSource of sources.length > 0 ? sources : ['']) {
            const key = JSON.stringify([...targetKey(target), fromSource, readOnly, ownerOnly, action]);
            out.rules.push({ kind, key, action, target, readOnly, ownerOnly, fromSource, severity, tags, message });
          }
        }
      });
    }
  };

  /** The canonical form (policy/kernel-limits.ts; validation warns about the rest); null with
   *  a warning for a '..' component, which validation refuses. */
  const canonical = (p: string, dir: boolean, at: string): string | null => {
    const c = canonicalPath(p, dir);
    if (!c.dotdot) return c.path;
    out.warnings.push(`${id}: ${at}: a ".." component; rule skipped`);
    return null;
  };
  const pathOrExec = (r: Rec, at: string): Target[] => {
    const p0 = nonEmptyStr(r['path']);
    const path = p0 === undefined ? undefined : canonical(p0, false, `${at}.path`);
    if (path === null) return [];
    if (path !== undefined) return [{ type: 'path', path }];
    const name = nonEmptyStr(r['execname']);
    if (name !== undefined) return [{ type: 'execname', name }];
    out.warnings.push(`${id}: ${at}: neither path nor execname; rule skipped`);
    return [];
  };
  const path = (r: Rec, at: string): Target[] => {
    const p0 = nonEmptyStr(r['path']);
    const p = p0 === undefined ? undefined : canonical(p0, false, `${at}.path`);
    if (p === null) return [];
    if (p !== undefined) return [{ type: 'path', path: p }];
    out.warnings.push(`${id}: ${at}.path: missing; rule skipped`);
    return [];
  };
  const directory = (r: Rec, at: string): Target[] => {
    const d0 = nonEmptyStr(r['dir']);
    if (d0 === undefined) { out.warnings.push(`${id}: ${at}.dir: missing; rule skipped`); return []; }
    const d = canonical(d0, true, `${at}.dir`);
    if (d === null) return [];
    return [{ type: 'directory', dir: d.endsWith('/') ? d : d + '/', recursive: r['recursive'] === true }];
  };
  const pattern = (r: Rec, at: string): Target[] => {
    const p = nonEmptyStr(r['pattern']);
    if (p !== undefined) return [{ type: 'pattern', pattern: p }];
    out.warnings.push(`${id}: ${at}.pattern: missing; rule skipped`);
    return [];
  };
  const protocols = (r: Rec, at: string): Target[] => {
    const out2: Target[] = [];
    for (const raw of (str(r['protocol']) ?? '').split(',')) {
      const p = raw.trim().toLowerCase();
      if (p === '') continue;
      if (PROTOCOLS.has(p)) out2.push({ type: 'protocol', protocol: p as Protocol });
      else out.warnings.push(`${id}: ${at}.protocol: unknown protocol '${raw.trim()}' skipped`);
    }
    return out2;
  };
  const capabilities = (r: Rec, at: string): Target[] => {
    const out2: Target[] = [];
    for (const raw of (str(r['capability']) ?? '').split(',')) {
      let c = raw.trim().toLowerCase();
      if (c.startsWith('cap_')) c = c.slice(4);
      if (c === '') continue;
      if (/^[a-z_]+$/.test(c)) out2.push({ type: 'capability', capability: c });
      else out.warnings.push(`${id}: ${at}.capability: '${raw.trim()}' is not a capability name; skipped`);
    }
    return out2;
  };

  section('process', 'process', ['matchPaths'], pathOrExec, { readOnly: false, fromSource: true });
  section('process', 'process', ['matchDirectories'], directory, { readOnly: false, fromSource: true });
  section('process', 'process', ['matchPatterns'], pattern, { readOnly: false, fromSource: true });
  section('file', 'file', ['matchPaths'], path, { readOnly: true, fromSource: true });
  section('file', 'file', ['matchDirectories'], directory, { readOnly: true, fromSource: true });
  section('file', 'file', ['matchPatterns'], pattern, { readOnly: true, fromSource: true });
  section('network', 'network', ['matchProtocols'], protocols, { readOnly: false, fromSource: true });
  section('capabilities', 'capabilities', ['matchCapabilities'], capabilities, { readOnly: false, fromSource: true });
  if (policy !== null && typeof policy === 'object') rulesCache.set(policy, out);
  return out;
}

/** A rule as one policy alone contributes it, for one container filter: built once per
 *  policy object and filter, reused by every compilation where no other policy merges
 *  into it (the common case). */
interface Single {
  sortKey: string;
  rule: ProfileRule;
  /** Canonical JSON of `rule`, UTF-8. */
  bytes: Buffer;
}

/** Merged state of a rule that several contributions share. */
interface Merge {
  policies: Set<string>;
  tags: Set<string>;
  severity: number;
  message: string;
  messageFrom: string;
}

interface Entry {
  first: PolicyRule;
  firstId: string;
  containers: string[];
  single: Single;
  merge: Merge | null;
}

function singleOf(r: PolicyRule, id: string, containers: string[], containersKey: string): Single {
  let byContainers = r.singles;
  if (byContainers === undefined) { byContainers = new Map(); r.singles = byContainers; }
  let single = byContainers.get(containersKey);
  if (single === undefined) {
    const rule: ProfileRule = {
      action: r.action, target: r.target, readOnly: r.readOnly, ownerOnly: r.ownerOnly, fromSource: r.fromSource,
      containers, policies: [id], severity: r.severity, tags: r.tags, message: r.message,
    };
    // Shared by every profile this policy contributes it to: frozen, so no consumer can change another's.
    Object.freeze(r.target); Object.freeze(r.tags); Object.freeze(containers); Object.freeze(rule.policies);
    single = { sortKey: r.key.slice(0, -1) + ',' + containersKey + ']', rule: Object.freeze(rule), bytes: Buffer.from(ruleJson(rule), 'utf8') };
    byContainers.set(containersKey, single);
  }
  return single;
}

interface Compiled { profile: Profile; canonical: Buffer; warnings: string[] }

/** The profile of the selected policies under `posture` (see the header for the rules). */
export function compileProfile(selected: Selected[], posture: PostureSet, visibility: readonly VisibilityKind[] = []): Profile {
  return compileSelected(selected, posture, visibility).profile;
}

function compileSelected(selected: readonly Selected[], posture: PostureSet, visibility: readonly VisibilityKind[] = []): Compiled {
  const ordered = selected
    .map((s) => ({ s, id: policyRules(s.policy).id }))
    .sort((a, b) => compareStrings(a.id, b.id));
  const byKind: Record<RuleKind, Map<string, Entry>> = { process: new Map(), file: new Map(), network: new Map(), capabilities: new Map() };
  const warnings: string[] = [];
  for (const { s, id } of ordered) {
    const containers = s.containers.length === 0 ? NO_CONTAINERS : sortedUnique(s.containers);
    const containersKey = containers.length === 0 ? '[]' : JSON.stringify(containers);
    const { rules, warnings: w } = policyRules(s.policy);
    if (w.length > 0) warnings.push(...w);
    for (const r of rules) {
      const single = singleOf(r, id, containers, containersKey);
      const map = byKind[r.kind];
      const e = map.get(single.sortKey);
      if (e === undefined) {
        map.set(single.sortKey, { first: r, firstId: id, containers, single, merge: null });
        continue;
      }
      let m = e.merge;
      if (m === null) {
        const f = e.first;
        m = { policies: new Set([e.firstId]), tags: new Set(f.tags), severity: f.severity, message: f.message, messageFrom: f.message === '' ? '' : e.firstId };
        e.merge = m;
      }
      m.policies.add(id);
      for (const t of r.tags) m.tags.add(t);
      if (r.severity > m.severity) m.severity = r.severity;
      if (r.message !== '') {
        if (m.message === '') { m.message = r.message; m.messageFrom = id; }
        else if (m.messageFrom === id && r.message < m.message) m.message = r.message;
      }
    }
  }
  const json: Record<RuleKind, Buffer[]> = { process: [], file: [], network: [], capabilities: [] };
  const finish = (kind: RuleKind): ProfileRule[] => {
    const map = byKind[kind];
    // The default sort compares strings by UTF-16 code units: compareStrings' order, natively.
    const keys = [...map.keys()].sort();
    const out: ProfileRule[] = new Array<ProfileRule>(keys.length);
    const texts = json[kind];
    for (let i = 0; i < keys.length; i++) {
      const e = map.get(keys[i]!)!;
      if (e.merge === null) {
        out[i] = e.single.rule;
        texts.push(e.single.bytes);
        continue;
      }
      const f = e.first;
      const rule: ProfileRule = {
        action: f.action, target: f.target, readOnly: f.readOnly, ownerOnly: f.ownerOnly, fromSource: f.fromSource,
        containers: e.containers, policies: [...e.merge.policies].sort(compareStrings), severity: e.merge.severity,
        tags: [...e.merge.tags].sort(compareStrings), message: e.merge.message,
      };
      out[i] = rule;
      texts.push(Buffer.from(ruleJson(rule), 'utf8'));
    }
    return out;
  };
  const postureCopy: PostureSet = { file: posture.file, network: posture.network, capabilities: posture.capabilities, process: posture.process };
  const profile: Profile = {
    version: 1,
    posture: postureCopy,
    process: finish('process'),
    file: finish('file'),
    network: finish('network'),
    capabilities: finish('capabilities'),
  };
  if (visibility.length > 0) profile.visibility = [...visibility];
  return { profile, canonical: profileBytesFromRules(postureCopy, json, visibility), warnings: warnings.length === 0 ? warnings : sortedUnique(warnings) };
}

const NO_CONTAINERS: string[] = [];

/** `NAMESPACE/NAME@GENERATION` or `NAME@GENERATION` (generation 0 when there is none). */
export function policyRef(policy: Policy): string {
  const g = policy?.metadata?.generation;
  return `${policyId(policy)}@${typeof g === 'number' && Number.isInteger(g) && g >= 0 ? g : 0}`;
}

function describe(r: ProfileRule): string {
  const t = r.target;
  const target = t.type === 'path' ? t.path : t.type === 'directory' ? t.dir : t.type === 'execname' ? `execname ${t.name}`
    : t.type === 'pattern' ? t.pattern : t.type === 'protocol' ? t.protocol : t.capability;
  const tail = (s: string): string => (s.length > 60 ? `...${s.slice(-57)}` : s);
  return `${r.action} ${JSON.stringify(tail(target))}${r.fromSource === '' ? '' : ` from ${JSON.stringify(tail(r.fromSource))}`}${r.containers.length === 0 ? '' : ` in ${r.containers.join(',')}`} (${r.policies.join(', ')})`;
}

/** What in a compiled profile the kernel side could not hold (policy/kernel-limits.ts): more
 *  rules that each decide something on one (kind, target, fromSource) than a map slot holds
 *  (rules another rule of the slot always overrules merge, as the enforcer merges them), a
 *  target or fromSource longer than the kernel compares, more rules than a profile may hold.
 *  Each problem names the limit, the rules and their policies; [] when it fits. */
export function profileLimitProblems(profile: Profile): string[] {
  const problems: string[] = [];
  let count = 0;
  for (const kind of ['process', 'file', 'network', 'capabilities'] as const) {
    const slots = new Map<string, ProfileRule[]>();
    for (const r of profile[kind]) {
      count++;
      const id = slotId(kind, r);
      if (id === null) continue;
      const t = r.target;
      const text = t.type === 'path' ? t.path : t.type === 'directory' ? t.dir : t.type === 'execname' ? t.name : '';
      if (byteLength(text) > KERNEL_LIMITS.pathBytes) problems.push(`${kind} ${describe(r)}: target of ${byteLength(text)} bytes, the kernel compares at most ${KERNEL_LIMITS.pathBytes}`);
      if (byteLength(r.fromSource) > KERNEL_LIMITS.sourceBytes) problems.push(`${kind} ${describe(r)}: fromSource of ${byteLength(r.fromSource)} bytes, the kernel compares at most ${KERNEL_LIMITS.sourceBytes}`);
      let list = slots.get(id);
      if (list === undefined) slots.set(id, (list = []));
      list.push(r);
    }
    for (const list of slots.values()) {
      if (list.length <= KERNEL_LIMITS.rulesPerKey) continue;
      const kept = mergeSlot(kind, list, ruleEntry, (b, a) => containersCover(b.containers, a.containers), (r) => (r.containers.length === 0 ? 1 << 30 : r.containers.length));
      if (kept.length <= KERNEL_LIMITS.rulesPerKey) continue;
      problems.push(`${kept.length} ${kind} rules on one target, none overruled by another, where the kernel holds ${KERNEL_LIMITS.rulesPerKey} (AG_MAX_ENT): ${kept.map((i) => describe(list[i]!)).join('; ')}`);
    }
  }
  if (count > KERNEL_LIMITS.rulesPerProfile) problems.push(`${count} rules, more than a pod's profile may hold (${KERNEL_LIMITS.rulesPerProfile})`);
  // the pattern automaton of each kind (bpf/pattern.h)
  for (const kind of ['process', 'file'] as const) {
    const pats = profile[kind].filter((r) => r.target.type === 'pattern');
    if (pats.length === 0) continue;
    const t = patternTable(kind, pats, {
      pattern: (r) => (r.target.type === 'pattern' ? r.target.pattern : ''), source: (r) => r.fromSource, entry: ruleEntry,
      covers: (b, a) => containersCover(b.containers, a.containers), breadth: (r) => (r.containers.length === 0 ? 1 << 30 : r.containers.length),
    });
    if (!t.ok) problems.push(`${kind} matchPatterns: ${t.error.message}`);
  }
  return problems;
}

/** Kubernetes' measure of an object's annotations: the sum of key and value lengths. */
export function annotationsSize(annotations: Record<string, string>): number {
  let n = 0;
  for (const [k, v] of Object.entries(annotations)) n += Buffer.byteLength(k) + Buffer.byteLength(String(v));
  return n;
}

/** Selects, compiles, encodes and signs: everything the mutating webhook needs, as a
 *  value. Errors: E_TOO_LARGE when the annotations would push the pod past 256 KiB;
 *  E_INTERNAL should never be seen. */
export function compile(pod: Pod, namespace: Namespace | null, policies: readonly Policy[], options: CompileOptions): Result<CompileResult> {
  try {
    const warnings: string[] = [];
    const nsName = podNamespace(pod, namespace);
    const podAnn = isRecord(pod?.metadata?.annotations) ? (pod.metadata!.annotations as Record<string, string>) : {};
    if (podAnn[KUBEARMOR_OPT_OUT] === 'disabled') {
      if (namespace?.metadata?.annotations?.[ANN_ALLOW_OPT_OUT] === 'true') {
        return ok({ optedOut: true, annotations: {}, profile: null, bound: [], warnings: [] });
      }
      warnings.push(`pod annotation ${KUBEARMOR_OPT_OUT}: disabled is ignored: namespace ${nsName} does not allow opting out (it needs the annotation ${ANN_ALLOW_OPT_OUT}: "true")`);
    }
    warnings.push(...namespacePostureWarnings(namespace));
    const posture = namespacePosture(namespace, options.defaultPosture);
    const vis = podVisibility(pod, namespace, options.defaultVisibility ?? []);
    warnings.push(...vis.warnings);
    const selected = selectPolicies(pod, namespace, policies);
    const { profile, canonical, warnings: w } = compileSelected(selected, posture, vis.kinds);
    warnings.push(...w);
    const bound = sortedUnique(selected.map((s) => policyRules(s.policy).ref));
    if (canonical.length > MAX_DECODED_PROFILE_BYTES) {
      return err('E_TOO_LARGE', `the compiled profile of ${bound.length} bound policies is ${canonical.length} bytes of JSON, past the ${MAX_DECODED_PROFILE_BYTES} bytes an enforcer decodes; bind fewer or smaller policies to this pod`, ANN_PROFILE);
    }
    const encoded = encodeCanonicalBytes(canonical);
    const annotations: Record<string, string> = {
      [ANN_POLICIES]: bound.join(','),
      [ANN_PROFILE]: encoded.annotation,
      [ANN_PROFILE_DIGEST]: encoded.digest,
    };
    const key = options.signingKey;
    if (key instanceof Uint8Array && key.length > 0) annotations[ANN_PROFILE_SIGNATURE] = signProfile(key, nsName, encoded.digest);
    annotations[ANN_POSTURE] = formatPosture(posture);

    const kept: Record<string, string> = {};
    for (const [k, v] of Object.entries(podAnn)) if (!k.startsWith(ANNOTATION_PREFIX)) kept[k] = String(v);
    const total = annotationsSize(kept) + annotationsSize(annotations) + Buffer.byteLength(ANN_TRACEPARENT) + TRACEPARENT_LENGTH;
    if (total > ANNOTATIONS_MAX_BYTES) {
      return err('E_TOO_LARGE',
        `the compiled profile of ${bound.length} bound policies (${annotationsSize({ [ANN_PROFILE]: encoded.annotation })} bytes as an annotation) would bring the pod's annotations to ${total} bytes, past Kubernetes' limit of ${ANNOTATIONS_MAX_BYTES} bytes; bind fewer or smaller policies to this pod`,
        ANN_PROFILE);
    }
    const over = profileLimitProblems(profile);
    if (over.length > 0) {
      return err('E_KERNEL_LIMIT', `the compiled profile does not fit the node's kernel maps: ${over.join('; ')}`, ANN_PROFILE);
    }
    return ok({ optedOut: false, annotations, profile, bound, warnings });
  } catch (e) {
    return err('E_INTERNAL', `compiling the profile failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
