// The three admission decisions, as pure functions of an AdmissionRequest and the
// gateway's current view (policies, namespaces, key, posture). The HTTP layer (app.ts)
// adds tracing and the traceparent annotation; nothing here does I/O.
import jsonpatch from 'fast-json-patch';
import {
  ANNOTATION_PREFIX, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE, ANN_TRACEPARENT, ANNOTATIONS_MAX_BYTES, KUBEARMOR_OPT_OUT,
} from '../policy/annotations.ts';
import type { Namespace, Pod, Policy, PostureSet, Problem, VisibilityKind } from '../policy/types.ts';
import { KUBEARMOR_VISIBILITY } from '../policy/visibility.ts';
import { validatePolicy } from '../policy/validate.ts';
import { annotationsSize, compile, type CompileResult } from '../policy/compile.ts';
import { signatureMatches, verifyAnnotations } from '../policy/sign.ts';
import { allow, deny, fitWarnings, type AdmissionRequest, type AdmissionResponse } from './review.ts';

/** What the decisions read: a snapshot interface over the caches and configuration. */
export interface GatewayView {
  policies(): readonly Policy[];
  /** Bumped whenever the policy set changes (keys the compile cache). */
  policiesVersion(): number;
  namespace(name: string): Namespace | null;
  signingKey: Uint8Array;
  /** A second key whose signatures validate-pod accepts (a rotation: the previous key, or the
   *  next one before it is the current one); null when none. */
  previousSigningKey?: Uint8Array | null;
  defaultPosture: PostureSet;
  /** visibility logs when neither the pod nor its namespace has a kubearmor-visibility annotation */
  defaultVisibility?: readonly VisibilityKind[];
  gatewayUser: string;
  /** The policy sets and namespace objects replaced a moment ago (recent-states.ts): a pod
   *  whose annotations one of them compiles to passes /validate-pod's CREATE check. */
  recent?: RecentView;
}

/** A policy set as it was, and a compile cache of its own. */
export interface PastPolicySet { version: number; policies: readonly Policy[]; cache: CompileCache }

/** What the gateway compiled from a moment ago (within a grace period), newest first. */
export interface RecentView {
  policySets(): readonly PastPolicySet[];
  /** The objects namespace `name` had (null: it did not exist). */
  namespaces(name: string): readonly (Namespace | null)[];
  /** Compile results of the current policy set with a past namespace object. */
  readonly cache: CompileCache;
}

/** Facts a decision reports for its span and logs. */
export interface DecisionFacts {
  decision: 'allowed' | 'denied' | 'patched';
  bound?: string[];
  digest?: string;
  optedOut?: boolean;
  /** Allowed as what a policy set or namespace object of a moment ago compiles to. */
  recentState?: boolean;
}

export interface Decision {
  response: AdmissionResponse;
  facts: DecisionFacts;
}

const POLICY_GROUP = 'security.kubearmor.com';
const POLICY_KINDS = new Set(['KubeArmorPolicy', 'KubeArmorClusterPolicy', 'KubeArmorHostPolicy']);

function allowed(uid: string, extra: Partial<AdmissionResponse> = {}, facts: Partial<DecisionFacts> = {}): Decision {
  return { response: allow(uid, extra), facts: { decision: 'allowed', ...facts } };
}
function denied(uid: string, message: string, code = 403, reason = 'Forbidden', warnings: readonly string[] = []): Decision {
  return { response: deny(uid, message, code, reason, warnings), facts: { decision: 'denied' } };
}

/** A request for a kind the endpoint does not serve: answered with HTTP 400 by the app. */
export class WrongKind extends Error {}

function isPodRequest(r: AdmissionRequest): boolean {
  return r.kind.group === '' && r.kind.version === 'v1' && r.kind.kind === 'Pod';
}

function formatProblem(p: Problem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

/** POST /validate-policy: the core's verdict on a policy CREATE/UPDATE. */
export function decidePolicy(r: AdmissionRequest): Decision {
  if (r.kind.group !== POLICY_GROUP || !POLICY_KINDS.has(r.kind.kind)) {
    throw new WrongKind(`/validate-policy serves ${POLICY_GROUP} KubeArmorPolicy, KubeArmorClusterPolicy and KubeArmorHostPolicy, not ${r.kind.group || 'core'}/${r.kind.version} ${r.kind.kind}`);
  }
  if (r.operation !== 'CREATE' && r.operation !== 'UPDATE') return allowed(r.uid);
  if (r.object === undefined || r.object === null) return denied(r.uid, `request.object is missing for ${r.operation}`, 400, 'BadRequest');
  // Validation has no side effect, so a dryRun request gets exactly the answer a real one would.
  const { policy, problems } = validatePolicy(r.object);
  const errors = problems.filter((p) => p.level === 'error');
  const warnings = problems.filter((p) => p.level === 'warning').map(formatProblem);
  if (policy === null || errors.length > 0) {
    const head = errors.length === 1 ? 'policy is invalid: ' : `policy is invalid (${errors.length} errors): `;
    const message = head + (errors.length > 0 ? errors.map(formatProblem).join('; ') : 'rejected by validation');
    return denied(r.uid, message, 422, 'Invalid', warnings);
  }
  return allowed(r.uid, { warnings });
}

function armorgateEntries(ann: Record<string, string> | undefined): [string, string][] {
  if (ann === undefined || ann === null || typeof ann !== 'object') return [];
  return Object.entries(ann).filter(([k]) => k.startsWith(ANNOTATION_PREFIX)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function annotationsOf(obj: unknown): Record<string, string> | undefined {
  const meta = (obj as Pod | null | undefined)?.metadata;
  const ann = meta?.annotations;
  return ann !== null && typeof ann === 'object' && !Array.isArray(ann) ? ann : undefined;
}


/** Bounded map, least recently used out first, emptied whenever the policy set changes. */
export class VersionedCache<V> {
  private readonly map = new Map<string, V>();
  private version = -1;
  private readonly max: number;
  constructor(max: number) { this.max = max; }
  /** Lookups answered from the cache, and the others (the metrics read them). */
  hits = 0;
  misses = 0;
  get size(): number { return this.map.size; }
  get(policiesVersion: number, key: string, make: () => V): V {
    if (policiesVersion !== this.version) { this.map.clear(); this.version = policiesVersion; }
    const hit = this.map.get(key);
    if (hit !== undefined) {
      // most recently used last (a Map keeps insertion order); skipped when already last
      if (this.map.size > 1 && this.newest !== key) { this.map.delete(key); this.map.set(key, hit); this.newest = key; }
      this.hits++;
      return hit;
    }
    this.misses++;
    const v = make();
    if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value as string);
    this.map.set(key, v);
    this.newest = key;
    return v;
  }
  private newest: string | undefined;
}

/** The part of a mutation's answer that is the same for every request with the same cache
 *  key and creator annotations: the patch (base64) without the per-request traceparent op,
 *  the warnings already fitted to the API server's limits, and the span facts. */
export interface PreparedAnswer {
  /** base64 of the ops; when `open`, of all ops but the traceparent one and the closing `]`. */
  base64: string;
  open: boolean;
  warnings: string[] | undefined;
  facts: DecisionFacts;
}

/** A compile result and the answers built from it for the two shapes of a pod's metadata
 *  that carry no armorgate.io/* annotation: annotations absent, or present without ours. A pod
 *  that arrives with armorgate.io/* annotations of its own (forged, or copied from a live pod:
 *  any values) is answered without caching, so the cache holds at most two answers a result
 *  whatever creators send. */
export interface CachedCompile {
  result: ReturnType<typeof compile>;
  /** For a pod without metadata.annotations. */
  bare?: PreparedAnswer;
  /** For a pod with annotations, none of them armorgate.io/*. */
  plain?: PreparedAnswer;
}

/** Compile results are cached by what they depend on: the policy set's version, the
 *  namespace (name and object: posture, opt-out) and the parts of the pod that selection
 *  reads (labels, container names, the opt-out annotation); bounded (2048 results, least
 *  recently used out first), each with at most two prepared answers (see CachedCompile).
 *  All of it is emptied when the policy set's version changes. */
export class CompileCache {
  readonly results: VersionedCache<CachedCompile>;
  constructor(max = 2048) {
    this.results = new VersionedCache(max);
  }
}

const TRACEPARENT_POINTER = `/metadata/annotations/${ANN_TRACEPARENT.replace(/~/g, '~0').replace(/\//g, '~1')}`;
/** base64 of the traceparent op up to its value's opening quote, padded with JSON whitespace
 *  (before the quote) to a multiple of 3 bytes, so that the per-request rest encodes alone
 *  (base64 of a text whose first part is a multiple of 3 bytes is the two parts' base64). */
const TRACEPARENT_OP_HEAD = ((): string => {
  let head = `{"op":"add","path":${JSON.stringify(TRACEPARENT_POINTER)},"value":`;
  while ((head.length + 1) % 3 !== 0) head += ' ';
  return Buffer.from(`${head}"`, 'latin1').toString('base64');
})();
const sizes = new WeakMap<object, number>();
/** annotationsSize of a cached result's annotations, computed once. */
function oursSize(ann: Record<string, string>): number {
  let n = sizes.get(ann);
  if (n === undefined) { n = annotationsSize(ann); sizes.set(ann, n); }
  return n;
}

/** The namespace's part of the cache key: its name (signed into the annotations) and, when
 *  its object is known, the annotations that set posture and opt-out. JSON texts one after
 *  the other: a sequence of JSON values reads back one way only. */
function namespaceKey(name: string, ns: Namespace | null): string {
  if (ns === null) return `${JSON.stringify(name)}null`;
  let part = namespaceParts.get(ns);
  if (part === undefined) {
    part = JSON.stringify([ns.metadata?.name ?? null, ns.metadata?.resourceVersion ?? null, ns.metadata?.annotations ?? null, ns.metadata?.labels ?? null]);
    namespaceParts.set(ns, part); // cache objects are replaced, never mutated, on change
  }
  return JSON.stringify(name) + part;
}
const namespaceParts = new WeakMap<object, string>();

/** The pod as the core sees it for selection and compilation: its namespace filled from the
 *  request, and no annotation but the opt-out (armorgate.io/* from the creator is never trusted). */
function podForCompile(pod: Pod, namespace: string, optOut: string | undefined): Pod {
  const meta = pod.metadata ?? {};
  // Only the opt-out and visibility annotations are passed on: the result then depends on
  // nothing the cache key leaves out, and the 256 KiB check is done here on the pod's real annotations.
  const annotations: Record<string, string> = optOut === undefined ? {} : { [KUBEARMOR_OPT_OUT]: optOut };
  const vis = visibilityOf(pod);
  if (vis !== undefined) annotations[KUBEARMOR_VISIBILITY] = vis;
  return { ...pod, metadata: { ...meta, namespace, annotations } };
}

function visibilityOf(pod: Pod): string | undefined {
  const v = (pod.metadata?.annotations as Record<string, unknown> | undefined)?.[KUBEARMOR_VISIBILITY];
  return v === undefined ? undefined : String(v);
}

function names(list: unknown): unknown[] {
  return Array.isArray(list) ? list.map((c: unknown) => (c !== null && typeof c === 'object' ? (c as { name?: unknown }).name : null)) : [];
}

/** The cache key of a compile result: what selection and compilation read from the request. */
function selectionKey(pod: Pod, nsKey: string, optOut: string | undefined): string {
  return nsKey + JSON.stringify([
    pod.metadata?.labels ?? null, optOut ?? null, visibilityOf(pod) ?? null,
    names(pod.spec?.containers), names(pod.spec?.initContainers),
  ]);
}

/** The compile result admission uses for a pod, from the cache: the one source of the
 *  armorgate.io/* annotations a pod should carry (the reconciler, reconciler.ts, calls this
 *  too, so a running pod is held to exactly what admission would write now). `optOut` is the
 *  pod's kubearmor-policy annotation, if any. */
export function compiledFor(pod: Pod, namespace: string, ns: Namespace | null, optOut: string | undefined, view: GatewayView, cache: CompileCache): CachedCompile {
  const key = selectionKey(pod, namespaceKey(namespace, ns), optOut);
  return cache.results.get(view.policiesVersion(), key, () => ({
    result: compile(podForCompile(pod, namespace, optOut), ns, view.policies(), { defaultPosture: view.defaultPosture, defaultVisibility: view.defaultVisibility ?? [], signingKey: view.signingKey }),
  }));
}

export interface MutateInput {
  request: AdmissionRequest;
  view: GatewayView;
  cache: CompileCache;
  /** The admission span's traceparent, written into armorgate.io/traceparent. */
  traceparent: string;
}

/** POST /mutate-pod: select, compile, sign; a JSONPatch that sets exactly the armorgate.io/*
 *  annotations and touches nothing else. */
export function decideMutate({ request: r, view, cache, traceparent }: MutateInput): Decision {
  if (!isPodRequest(r)) throw new WrongKind(`/mutate-pod serves core/v1 Pod, not ${r.kind.group || 'core'}/${r.kind.version} ${r.kind.kind}`);
  if (r.operation !== 'CREATE') return allowed(r.uid);
  const obj = r.object;
  if (obj === undefined || obj === null) return denied(r.uid, 'request.object is missing for CREATE', 400, 'BadRequest');
  const pod = obj as Pod;
  if (pod.metadata !== undefined && (pod.metadata === null || typeof pod.metadata !== 'object' || Array.isArray(pod.metadata))) {
    return denied(r.uid, 'request.object.metadata must be an object', 400, 'BadRequest');
  }
  const rawAnn = pod.metadata?.annotations;
  if (rawAnn !== undefined && (rawAnn === null || typeof rawAnn !== 'object' || Array.isArray(rawAnn))) {
    return denied(r.uid, 'request.object.metadata.annotations must be an object of strings', 400, 'BadRequest');
  }
  const namespace = namespaceOf(r, pod);
  if (namespace === '') return denied(r.uid, 'pod has no namespace (request.namespace and metadata.namespace are empty or not strings)', 400, 'BadRequest');
  const ns = view.namespace(namespace);
  const oldAnn = annotationsOf(pod);
  const rawOptOut = oldAnn?.[KUBEARMOR_OPT_OUT];
  const optOut = rawOptOut === undefined ? undefined : String(rawOptOut);
  const cached = compiledFor(pod, namespace, ns, optOut, view, cache);
  const result = cached.result;
  if (!result.ok) {
    const where = result.error.path ? ` (${result.error.path})` : '';
    return denied(r.uid, `${result.error.code}: ${result.error.message}${where}`, result.error.code === 'E_TOO_LARGE' ? 413 : 422, 'Invalid');
  }
  const c = result.value;
  let otherBytes = 0;
  const forged: [string, string][] = [];
  if (oldAnn !== undefined) {
    for (const k in oldAnn) {
      if (!Object.hasOwn(oldAnn, k)) continue;
      if (k.startsWith(ANNOTATION_PREFIX)) forged.push([k, String(oldAnn[k])]);
      else otherBytes += Buffer.byteLength(k) + Buffer.byteLength(String(oldAnn[k]));
    }
  }
  if (!c.optedOut) {
    const total = otherBytes + oursSize(c.annotations) + Buffer.byteLength(ANN_TRACEPARENT) + Buffer.byteLength(traceparent);
    if (total > ANNOTATIONS_MAX_BYTES) {
      const profileBytes = annotationsSize({ [ANN_PROFILE]: c.annotations[ANN_PROFILE] ?? '' });
      return denied(r.uid, `E_TOO_LARGE: the compiled profile (${profileBytes} bytes as an annotation) would bring the pod's annotations (metadata.annotations) to ${total} bytes, past Kubernetes' limit of ${ANNOTATIONS_MAX_BYTES}; bind fewer or smaller policies to this pod`, 413, 'RequestEntityTooLarge', c.warnings);
    }
  }
  // The ops depend only on the result, on whether metadata and annotations exist, and on the
  // creator's armorgate.io/* entries (other annotations are equal on both sides): for the two
  // usual shapes (no metadata is a pod nobody sends) cached with the result, with the fitted
  // warnings and the span facts.
  const noMetadata = pod.metadata === undefined, noAnnotations = oldAnn === undefined;
  let prepared: PreparedAnswer;
  if (noMetadata || forged.length > 0) prepared = prepare(c, noMetadata, noAnnotations, forged);
  else if (noAnnotations) prepared = cached.bare ??= prepare(c, false, true, forged);
  else prepared = cached.plain ??= prepare(c, false, false, forged);
  // The traceparent differs per request: one `add` op closes the array (add sets or replaces
  // a member). Its fixed head is encoded once (padded to 3 bytes); only the value (a JSON
  // string: quoted, escaped) and the closing `}]` are encoded per request.
  const patch = prepared.open ? prepared.base64 + TRACEPARENT_OP_HEAD + Buffer.from(`${JSON.stringify(traceparent).slice(1)}}]`).toString('base64') : prepared.base64;
  const response: AdmissionResponse = { uid: r.uid, allowed: true };
  if (prepared.warnings !== undefined) response.warnings = prepared.warnings;
  if (patch !== '') {
    response.patch = patch;
    response.patchType = 'JSONPatch';
  }
  return { response, facts: prepared.facts };
}

/** The per-key part of a mutation's answer (see PreparedAnswer). */
function prepare(c: CompileResult, noMetadata: boolean, noAnnotations: boolean, forged: [string, string][]): PreparedAnswer {
  const before = noMetadata ? {} : { metadata: noAnnotations ? {} : { annotations: Object.fromEntries(forged) } };
  const ops = JSON.stringify(jsonpatch.compare(before, { metadata: { annotations: c.optedOut ? {} : { ...c.annotations } } }));
  let base64: string, open: boolean;
  if (c.optedOut) {
    base64 = ops === '[]' ? '' : Buffer.from(ops).toString('base64');
    open = false;
  } else {
    // Everything but the closing bracket, padded with JSON whitespace to a multiple of 3 bytes:
    // then base64(prefix + suffix) = base64(prefix) + base64(suffix), and only the small
    // per-request suffix is encoded per request.
    let prefix = ops === '[]' ? '[' : `${ops.slice(0, -1)},`;
    while (Buffer.byteLength(prefix) % 3 !== 0) prefix = `${prefix.slice(0, -1)} ${prefix.slice(-1)}`;
    base64 = Buffer.from(prefix).toString('base64');
    open = true;
  }
  const facts: DecisionFacts = { decision: open || base64 !== '' ? 'patched' : 'allowed', bound: c.bound, optedOut: c.optedOut };
  if (c.profile !== null && !c.optedOut) {
    const digest = c.annotations[ANN_PROFILE_DIGEST];
    if (digest !== undefined) facts.digest = digest;
  }
  return { base64, open, warnings: c.warnings.length === 0 ? undefined : fitWarnings(c.warnings), facts };
}

/** The request's namespace, else the pod's own; '' when neither is a non-empty string. */
function namespaceOf(r: AdmissionRequest, pod: Pod): string {
  if (typeof r.namespace === 'string' && r.namespace !== '') return r.namespace;
  const own: unknown = pod.metadata?.namespace;
  return typeof own === 'string' ? own : '';
}

/** POST /validate-pod: guards the armorgate.io/* annotations. */
export function decideValidatePod(r: AdmissionRequest, view: GatewayView, cache?: CompileCache): Decision {
  if (!isPodRequest(r)) throw new WrongKind(`/validate-pod serves core/v1 Pod, not ${r.kind.group || 'core'}/${r.kind.version} ${r.kind.kind}`);
  if (r.operation === 'UPDATE') {
    if (r.object === undefined || r.object === null || r.oldObject === undefined || r.oldObject === null) {
      return denied(r.uid, 'request.object and request.oldObject are both required for UPDATE', 400, 'BadRequest');
    }
    const before = new Map(armorgateEntries(annotationsOf(r.oldObject)));
    const after = new Map(armorgateEntries(annotationsOf(r.object)));
    const changed: string[] = [];
    for (const [k, v] of after) if (before.get(k) !== v) changed.push(before.has(k) ? `${k} (changed)` : `${k} (added)`);
    for (const k of before.keys()) if (!after.has(k)) changed.push(`${k} (removed)`);
    if (changed.length === 0) return allowed(r.uid);
    const user = r.userInfo?.username ?? '';
    if (user === view.gatewayUser) return allowed(r.uid);
    return denied(r.uid, `only ${view.gatewayUser} may change ${ANNOTATION_PREFIX}* annotations; ${user || 'an unknown user'} changed: ${changed.sort().join(', ')}`);
  }
  if (r.operation !== 'CREATE') return allowed(r.uid);
  if (r.object === undefined || r.object === null) return denied(r.uid, 'request.object is missing for CREATE', 400, 'BadRequest');
  const pod = r.object as Pod;
  if (pod.metadata !== undefined && (pod.metadata === null || typeof pod.metadata !== 'object' || Array.isArray(pod.metadata))) {
    return denied(r.uid, 'request.object.metadata must be an object', 400, 'BadRequest');
  }
  const namespace = namespaceOf(r, pod);
  if (namespace === '') return denied(r.uid, 'pod has no namespace (request.namespace and metadata.namespace are empty or not strings)', 400, 'BadRequest');
  const ann = annotationsOf(pod);
  const ours = armorgateEntries(ann);
  // What the gateway writes for this pod now (the mutating call compiled the same key a moment
  // ago: a cache hit). A signed profile copied from another pod of the namespace verifies, but
  // is not this pod's, so it is refused here even when the mutating call was skipped.
  const rawOptOut = ann?.[KUBEARMOR_OPT_OUT];
  const optOut = rawOptOut === undefined ? undefined : String(rawOptOut);
  const result = compiledFor(pod, namespace, view.namespace(namespace), optOut, view, cache ?? new CompileCache(1)).result;
  if (!result.ok) {
    const where = result.error.path ? ` (${result.error.path})` : '';
    return denied(r.uid, `the gateway cannot compile a profile for this pod: ${result.error.code}: ${result.error.message}${where}`, result.error.code === 'E_TOO_LARGE' ? 413 : 422, 'Invalid');
  }
  const c = result.value;
  const expected: Record<string, string> = c.optedOut ? {} : c.annotations;
  const differences = annotationDifferences(ours, expected, ann, namespace, view);
  if (differences.length > 0) {
    // written a moment ago, from a policy set or namespace object since replaced (a change
    // between the mutating and this call, or replicas whose caches differ for a moment)?
    const past = recentMatch(pod, namespace, optOut, ours, ann, view);
    if (past !== null) return past.optedOut ? allowed(r.uid, {}, { optedOut: true, recentState: true }) : allowed(r.uid, {}, { bound: past.bound, digest: past.annotations[ANN_PROFILE_DIGEST], recentState: true });
    const whose = c.optedOut ? 'an opted-out pod carries none' : `the gateway writes these for this pod (policies: ${c.bound.length === 0 ? 'none' : c.bound.join(',')})`;
    return denied(r.uid, `pod's ${ANNOTATION_PREFIX}* annotations are not what the gateway writes for it in namespace ${namespace} (${whose}): ${differences.join(', ')}`);
  }
  if (c.optedOut) return allowed(r.uid, {}, { optedOut: true });
  return allowed(r.uid, {}, { bound: c.bound, digest: expected[ANN_PROFILE_DIGEST] });
}

/** The compile result of a recent state (view.recent: a policy set or namespace object replaced
 *  within the grace period, with the current ones) whose annotations are exactly the pod's, or
 *  null. Only a pod whose signature is valid here for its namespace, or an opted-out pod that
 *  carries no armorgate.io/* annotation, is looked for: a pod whose mutation was skipped, or
 *  whose annotations were forged, costs no compile. A signed profile copied from another pod is
 *  still refused unless a recent state compiles this very pod to it. */
function recentMatch(pod: Pod, namespace: string, optOut: string | undefined, ours: [string, string][], ann: Record<string, string> | undefined, view: GatewayView): CompileResult | null {
  const recent = view.recent;
  if (recent === undefined) return null;
  if (ours.length === 0 ? optOut === undefined : !signedHere(ann, namespace, view)) return null;
  const current: PastPolicySet = { version: view.policiesVersion(), policies: view.policies(), cache: recent.cache };
  const sets = [current, ...recent.policySets().filter((p) => p.version !== current.version)];
  const nsNow = view.namespace(namespace);
  const nsObjects = [nsNow, ...recent.namespaces(namespace).filter((n) => n !== nsNow)];
  for (const set of sets) {
    const then: GatewayView = { ...view, policies: () => set.policies, policiesVersion: () => set.version };
    for (const ns of nsObjects) {
      if (set === current && ns === nsNow) continue; // the current state: already compared
      const got = compiledFor(pod, namespace, ns, optOut, then, set.cache).result;
      if (!got.ok) continue;
      if (annotationDifferences(ours, got.value.optedOut ? {} : got.value.annotations, ann, namespace, view).length === 0) return got.value;
    }
  }
  return null;
}

/** The pod's profile signature is one the gateway makes for its namespace and digest, with a
 *  key it holds (policy/sign.ts signatureMatches: constant time). */
function signedHere(ann: Record<string, string> | undefined, namespace: string, view: GatewayView): boolean {
  const digest = ann?.[ANN_PROFILE_DIGEST], signature = ann?.[ANN_PROFILE_SIGNATURE];
  if (typeof digest !== 'string' || typeof signature !== 'string') return false;
  const keys = [view.signingKey, view.previousSigningKey].filter((k): k is Uint8Array => k instanceof Uint8Array);
  return signatureMatches(signature, namespace, digest, keys);
}

const TRACEPARENT_FORMAT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/** How a pod's armorgate.io/* entries differ from what the gateway writes (`expected`): each
 *  key named with what is wrong. The traceparent is the admission's own (any well-formed one);
 *  a signature by the previous key passes when everything else is equal and it verifies (a
 *  rotation, with replicas that sign with either key). */
function annotationDifferences(ours: [string, string][], expected: Record<string, string>, ann: Record<string, string> | undefined, namespace: string, view: GatewayView): string[] {
  const out: string[] = [];
  const have = new Map(ours);
  let signatureDiffers = false;
  for (const [k, v] of Object.entries(expected)) {
    const got = have.get(k);
    if (got === undefined) out.push(`${k} (missing)`);
    else if (got !== v) {
      if (k === ANN_PROFILE_SIGNATURE) signatureDiffers = true;
      else out.push(`${k} (differs)`);
    }
  }
  for (const [k, v] of ours) {
    if (Object.hasOwn(expected, k)) continue;
    if (k === ANN_TRACEPARENT && Object.keys(expected).length > 0) {
      if (!TRACEPARENT_FORMAT.test(v)) out.push(`${k} (not a W3C traceparent)`);
    } else out.push(`${k} (not written by the gateway)`);
  }
  if (signatureDiffers) {
    const previous = view.previousSigningKey;
    const ok = out.length === 0 && previous instanceof Uint8Array && verifyAnnotations(ann, namespace, [previous]).ok;
    if (!ok) out.push(`${ANN_PROFILE_SIGNATURE} (differs)`);
  }
  return out;
}
