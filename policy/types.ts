// Shared types of the policy core: the contract between validation, the compiler,
// the webhook and the enforcer. The compiled profile's JSON Schema
// (schemas/profile.schema.json) describes exactly the `Profile` type below.

export type Action = 'Allow' | 'Audit' | 'Block';
export type Posture = 'audit' | 'block';
export type RuleKind = 'process' | 'file' | 'network' | 'capabilities';
export const RULE_KINDS: readonly RuleKind[] = ['process', 'file', 'network', 'capabilities'];
/** Kinds of visibility logs a pod may ask for (KubeArmor's `kubearmor-visibility`). */
export type VisibilityKind = RuleKind;

/** Posture per kind; the annotation always lists file, network, capabilities, process in that order. */
export interface PostureSet {
  file: Posture;
  network: Posture;
  capabilities: Posture;
  process: Posture;
}

/** Normalised network protocol names (lower case), as KubeArmor's CRD allows them. */
export type Protocol =
  | 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'raw' | 'sctp' | 'stream' | 'dgram'
  | 'rdm' | 'seqpacket' | 'dccp' | 'packet' | 'all';

export type Target =
  | { type: 'path'; path: string }                              // process or file: exact full path
  | { type: 'execname'; name: string }                          // process: executable base name
  | { type: 'directory'; dir: string; recursive: boolean }      // process or file: dir ends with '/'
  | { type: 'pattern'; pattern: string }                        // process or file: glob on the full path
  | { type: 'protocol'; protocol: Protocol }                    // network
  | { type: 'capability'; capability: string };                 // capabilities: lower-case name without CAP_, e.g. 'net_raw'

/** One compiled rule. Rules are deduplicated: identical (kind, action, target, readOnly,
 *  ownerOnly, fromSource, containers) from several policies merge into one rule whose
 *  policies/tags are the sorted union, severity the maximum and message the first
 *  non-empty message in policy order. */
export interface ProfileRule {
  action: Action;
  target: Target;
  readOnly: boolean;
  ownerOnly: boolean;
  /** Full path of the acting executable this rule is limited to; '' when none.
   *  A KubeArmor rule with N fromSource entries compiles to N rules. */
  fromSource: string;
  /** Container names (from the `kubearmor.io/container.name` selector label) the rule is
   *  limited to; empty means every container of the pod. Sorted. */
  containers: string[];
  /** Policies behind the rule: `NAMESPACE/NAME` or `NAME` for cluster policies. Sorted. */
  policies: string[];
  severity: number;      // 1..10, 0 when no policy set one
  tags: string[];        // sorted, deduplicated
  message: string;
}

/** The compiled profile of one pod. Canonical: every array sorted by a total order,
 *  no undefined fields; canonical JSON (RFC 8785) of it is what the digest covers. */
export interface Profile {
  version: 1;
  posture: PostureSet;
  process: ProfileRule[];
  file: ProfileRule[];
  network: ProfileRule[];
  capabilities: ProfileRule[];
  /** The visibility logs the pod's namespace asks for (sorted); absent when none. */
  visibility?: VisibilityKind[];
}

/** A problem found in a policy. `path` is dotted with indexes: `spec.file.matchDirectories[1].dir`. */
export interface Problem {
  level: 'error' | 'warning';
  path: string;
  message: string;
}

/** Errors are values: every fallible public function returns one of these. */
export type Result<T, E = AgError> = { ok: true; value: T } | { ok: false; error: E };

export interface AgError {
  /** Stable code, e.g. 'E_YAML', 'E_SCHEMA', 'E_SIGNATURE', 'E_TOO_LARGE'. */
  code: string;
  message: string;
  /** Field path or file path at fault, when there is one. */
  path?: string;
}

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
export const err = (code: string, message: string, path?: string): { ok: false; error: AgError } =>
  ({ ok: false, error: path === undefined ? { code, message } : { code, message, path } });

/** Minimal shapes of the Kubernetes objects the core reads. */
export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [key: string]: unknown;
}
export interface Pod extends KubeObject {
  spec?: { nodeName?: string; hostPID?: boolean; containers?: { name: string; image?: string; resources?: unknown }[]; initContainers?: { name: string }[]; [k: string]: unknown };
  status?: { qosClass?: string; containerStatuses?: { name: string; containerID?: string }[]; [k: string]: unknown };
}
export type Namespace = KubeObject;

export type PolicyKind = 'KubeArmorPolicy' | 'KubeArmorClusterPolicy' | 'KubeArmorHostPolicy';
export const POLICY_API_VERSION = 'security.kubearmor.com/v1';
/** A policy object that passed validation (schema + semantics). Its `spec` is KubeArmor's spec. */
export interface Policy extends KubeObject {
  apiVersion: typeof POLICY_API_VERSION;
  kind: PolicyKind;
  metadata: ObjectMeta & { name: string };
  spec: Record<string, unknown>;
}
