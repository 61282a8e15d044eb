// Kernel events → alerts in KubeArmor's JSON alert shape (one JSON object per line on stdout), so
// existing KubeArmor log pipelines keep working. Pure: the caller supplies the pod context and clock.
import type { Action, ProfileRule, RuleKind } from '../policy/types.ts';
import type { KernelEvent } from './kernel/index.ts';
import { lsmName, networkResource } from './kubearmor-names.ts';
import type { PodOwner } from './pod-facts.ts';

export { networkResource } from './kubearmor-names.ts';

export interface KubeArmorAlert {
  Timestamp: number;          // unix seconds
  UpdatedTime: string;        // RFC 3339, UTC
  ClusterName: string;
  HostName: string;
  NamespaceName: string;
  PodName: string;
  /** The pod's top-level controller (pod-facts.ts); absent for events of no known pod */
  Owner?: PodOwner;
  Labels: string;             // "k=v,k=v", sorted by key
  ContainerID: string;
  ContainerName: string;
  ContainerImage: string;     // image@sha256:digest, as KubeArmor writes it
  HostPID: number;
  HostPPID: number;
  PPID: number;
  PID: number;
  UID: number;
  ParentProcessName: string;
  ProcessName: string;
  PolicyName: string;
  Severity: string;           // KubeArmor writes the severity as a string
  Tags: string;               // comma-separated
  ATags: string[];
  Message: string;
  Type: 'MatchedPolicy' | 'SystemEvent';
  Source: string;
  Operation: string;          // Process | File | Network | Capabilities | AlertThreshold | Profile
  Resource: string;
  Data: string;               // lsm=HOOK
  Enforcer: 'BPFLSM';
  Action: string;
  Result: string;
  /** AlertThreshold only: the kernel's alert rate per container cgroup (KubeArmor's MaxAlertPerSec) */
  MaxAlertsPerSec?: number;
}

/** The fields of a kernel decision an alert needs: a subset of the kernel's event. */
export type DecisionInput = Pick<KernelEvent,
  'pid' | 'ppid' | 'uid' | 'exe' | 'source' | 'target' | 'hook' | 'kind' | 'denied' | 'errno' | 'rule'> & Partial<Pick<KernelEvent, 'sock'>> & { action: Action };

/** Who the event is about: filled from the reconciler's view of the pod, empty strings when unknown. */
export interface AlertContext {
  clusterName: string;
  hostName: string;
  namespace: string;
  podName: string;
  labels: Record<string, string> | undefined;
  containerId: string;
  containerName: string;
  /** '' when unknown */
  containerImage?: string;
  /** null or absent: unknown (no pod) */
  owner?: PodOwner | null;
  parentProcessName: string;
}

export const OPERATION: Record<RuleKind, string> = {
  process: 'Process', file: 'File', network: 'Network', capabilities: 'Capabilities',
};

/** KubeArmor's Result: `Passed` when allowed; `Permission denied` when refused, as KubeArmor's
 *  BPF-LSM enforcer writes for every refusal (the process itself sees EPERM). */
export function resultText(denied: boolean, _errno: number): string {
  return denied ? 'Permission denied' : 'Passed';
}

/** Labels as KubeArmor writes them (`k=v,…`, keys sorted). Remembered per labels object: every
 *  alert and log of a pod formats the same one (a pod's update brings a new object). */
export function formatLabels(labels: Record<string, string> | undefined): string {
  if (labels === undefined) return '';
  let text = labelTexts.get(labels);
  if (text === undefined) {
    text = Object.keys(labels).sort().map((k) => `${k}=${labels[k] ?? ''}`).join(',');
    labelTexts.set(labels, text);
  }
  return text;
}

const labelTexts = new WeakMap<Record<string, string>, string>();

/** KubeArmor names the policy without its namespace; several policies behind one rule are comma-joined. */
export function policyName(rule: ProfileRule | null): string {
  if (rule === null) return 'DefaultPosture';
  const names = rule.policies.map((p) => p.slice(p.indexOf('/') + 1));
  return [...new Set(names)].join(',');
}

function times(now: Date): { Timestamp: number; UpdatedTime: string } {
  return { Timestamp: Math.floor(now.getTime() / 1000), UpdatedTime: now.toISOString() };
}

/** The fields of an alert or a log that say who: the cluster, node, pod and container. */
export type Who = Pick<KubeArmorAlert, 'ClusterName' | 'HostName' | 'NamespaceName' | 'PodName' | 'Owner' | 'Labels' | 'ContainerID' | 'ContainerName' | 'ContainerImage'>;

export function who(ctx: AlertContext, labels: string): Who {
  return {
    ClusterName: ctx.clusterName,
    HostName: ctx.hostName,
    NamespaceName: ctx.namespace,
    PodName: ctx.podName,
    ...(ctx.owner === undefined || ctx.owner === null ? {} : { Owner: ctx.owner }),
    Labels: labels,
    ContainerID: ctx.containerId,
    ContainerName: ctx.containerName,
    ContainerImage: ctx.containerImage ?? '',
  };
}

function base(ctx: AlertContext, now: Date): Omit<KubeArmorAlert, 'HostPID' | 'HostPPID' | 'PPID' | 'PID' | 'UID' | 'ProcessName' | 'PolicyName' | 'Severity' | 'Tags' | 'ATags' | 'Message' | 'Type' | 'Source' | 'Operation' | 'Resource' | 'Data' | 'Action' | 'Result'> {
  return {
    ...times(now),
    ...who(ctx, formatLabels(ctx.labels)),
    ParentProcessName: ctx.parentProcessName,
    Enforcer: 'BPFLSM',
  };
}

/** What was accessed, as KubeArmor writes it: a socket() as `domain=… type=… protocol=…`. */
export function resourceOf(e: Pick<DecisionInput, 'kind' | 'target' | 'sock'>): string {
  return e.kind === 'network' && e.sock !== undefined ? networkResource(e.sock) : e.target;
}

/** KubeArmor's BPF-LSM Data: `lsm=EVENT`, followed by the resource for sockets and capabilities. */
export function dataOf(e: Pick<DecisionInput, 'kind' | 'target' | 'sock' | 'hook'>): string {
  const lsm = `lsm=${lsmName(e.hook)}`;
  return e.kind === 'network' || e.kind === 'capabilities' ? `${lsm} ${resourceOf(e)}` : lsm;
}

/** One decision of the kernel (Audit or Block by a rule, or the posture) as a KubeArmor alert. */
export function decisionAlert(e: DecisionInput, ctx: AlertContext, now: Date): KubeArmorAlert {
  const rule = e.rule;
  const tags = rule?.tags ?? [];
  return {
    ...base(ctx, now),
    HostPID: e.pid,
    HostPPID: e.ppid,
    PPID: e.ppid,
    PID: e.pid,
    UID: e.uid,
    ProcessName: e.exe,
    PolicyName: policyName(rule),
    Severity: rule !== null && rule.severity > 0 ? String(rule.severity) : '',
    Tags: tags.join(','),
    ATags: [...tags],
    Message: rule?.message ?? '',
    Type: 'MatchedPolicy',
    Source: e.source,
    Operation: OPERATION[e.kind],
    Resource: resourceOf(e),
    Data: dataOf(e),
    Action: e.action,
    Result: resultText(e.denied, e.errno),
  };
}

function systemEvent(ctx: AlertContext, now: Date, operation: string, message: string, data: string): KubeArmorAlert {
  return {
    ...base(ctx, now),
    HostPID: 0, HostPPID: 0, PPID: 0, PID: 0, UID: 0,
    ProcessName: '', PolicyName: '', Severity: '', Tags: '', ATags: [],
    Message: message,
    Type: 'SystemEvent',
    Source: 'armorgate-enforcer',
    Operation: operation,
    Resource: '',
    Data: data,
    Action: '',
    Result: '',
  };
}

/** Events the kernel had to drop (rate limit or full ring buffer): one alert carrying the count,
 *  and the rate limit in force (`maxPerSec`; 0: none, not written). */
export function thresholdAlert(dropped: number, ctx: AlertContext, now: Date, maxPerSec = 0): KubeArmorAlert {
  const a = systemEvent(ctx, now, 'AlertThreshold', `${dropped} alert${dropped === 1 ? '' : 's'} dropped: rate limit exceeded`, `dropped=${dropped}`);
  return maxPerSec > 0 ? { ...a, MaxAlertsPerSec: maxPerSec } : a;
}

/** A pod the enforcer does not enforce (no profile, or one whose digest or signature does not verify). */
export function notEnforcedAlert(reason: string, code: string, ctx: AlertContext, now: Date): KubeArmorAlert {
  return systemEvent(ctx, now, 'Profile', `pod not enforced: ${reason}`, `code=${code}`);
}

/** A rule as alerts and logs name it: action, target, fromSource, the policies behind it. */
export function ruleText(r: ProfileRule): string {
  const t = r.target;
  const target = t.type === 'path' ? t.path : t.type === 'directory' ? `${t.dir}${t.recursive ? ' (recursive)' : ''}`
    : t.type === 'execname' ? `execname ${t.name}` : t.type === 'pattern' ? `pattern ${t.pattern}` : t.type === 'protocol' ? `protocol ${t.protocol}` : `capability ${t.capability}`;
  return `${r.action} ${target}${r.fromSource === '' ? '' : ` from ${r.fromSource}`} [${r.policies.join(',')}]`;
}

/** A pod enforced in part: the rules of its profile the kernel could not load (the rest is in
 *  force). `codes`: the distinct reasons (UnsupportedCode of enforcer/kernel/entries.ts). */
export function partialLoadAlert(rules: readonly { rule: ProfileRule; reason: string; code?: string }[], ctx: AlertContext, now: Date): KubeArmorAlert {
  const codes = [...new Set(rules.map((r) => r.code ?? 'E_UNSUPPORTED'))].sort();
  const shown = rules.slice(0, 20).map((r) => `${ruleText(r.rule)}: ${r.reason}`);
  const more = rules.length > shown.length ? `; and ${rules.length - shown.length} more` : '';
  return systemEvent(ctx, now, 'Profile', `pod partly enforced: ${rules.length} rule${rules.length === 1 ? '' : 's'} not loaded, the rest in force: ${shown.join('; ')}${more}`, `code=${codes.join(',')}`);
}

/** The alert as one line of stdout. */
export function alertLine(a: KubeArmorAlert): string {
  return `${JSON.stringify(a)}\n`;
}
