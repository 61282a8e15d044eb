// Visibility logs: what a pod's processes do (exec, open, socket, capability use) in the kinds its
// namespace asks for (KubeArmor's `kubearmor-visibility` annotation), as KubeArmor's container
// `Log` records. The kernel decides which events are wanted (per pod, per kind) and rate-limits
// them; this module only shapes what arrives. Pure: the caller supplies the pod context and clock.
import { OPERATION, dataOf, resourceOf, who, type AlertContext, type KubeArmorAlert } from './alerts.ts';
import type { KernelEvent } from './kernel/index.ts';

export type { VisibilityKind } from '../policy/types.ts';

/** KubeArmor's `Log` (container log) as JSON: the fields ArmorGate fills, those an alert has too
 *  (one definition of their types: alerts.ts). */
export type KubeArmorLog = Pick<KubeArmorAlert,
  'Timestamp' | 'UpdatedTime' | 'ClusterName' | 'HostName' | 'NamespaceName' | 'PodName' | 'Owner' | 'Labels' | 'ContainerID' | 'ContainerName' | 'ContainerImage'
  | 'HostPID' | 'HostPPID' | 'PPID' | 'PID' | 'UID' | 'ParentProcessName' | 'ProcessName' | 'Source' | 'Operation' | 'Resource' | 'Data' | 'Result'>
  & { Type: 'ContainerLog' };

export type LogInput = Pick<KernelEvent, 'pid' | 'ppid' | 'uid' | 'exe' | 'source' | 'target' | 'hook' | 'kind' | 'denied' | 'errno' | 'sock'>;

/** One visibility event of the kernel as a KubeArmor container log. */
export function visibilityLog(e: LogInput, ctx: AlertContext, labels: string, now: Date): KubeArmorLog {
  return {
    Timestamp: Math.floor(now.getTime() / 1000),
    UpdatedTime: now.toISOString(),
    ...who(ctx, labels),
    HostPID: e.pid,
    HostPPID: e.ppid,
    PPID: e.ppid,
    PID: e.pid,
    UID: e.uid,
    ParentProcessName: ctx.parentProcessName,
    ProcessName: e.exe,
    Type: 'ContainerLog',
    Source: e.source,
    Operation: OPERATION[e.kind],
    Resource: resourceOf(e),
    Data: dataOf(e),
    Result: 'Passed',
  };
}

export function logLine(l: KubeArmorLog): string {
  return `${JSON.stringify(l)}\n`;
}

/** The "who" part of a log line (`"ClusterName":…,"ContainerImage":…`), kept for the last
 *  context it was made for: a busy pod's logs come one after another from the same container, so
 *  the nine fields are compared, not serialised again (`npm run bench:log-path`). */
let whoMemo: { c: string; h: string; n: string; p: string; or: string | null; on: string; ons: string; l: string; id: string; cn: string; ci: string; text: string } | null = null;

function whoText(ctx: AlertContext, labels: string): string {
  const m = whoMemo;
  const owner = ctx.owner ?? null;
  const image = ctx.containerImage ?? '';
  if (m !== null && m.c === ctx.clusterName && m.h === ctx.hostName && m.n === ctx.namespace && m.p === ctx.podName
    && m.or === (owner?.Ref ?? null) && m.on === (owner?.Name ?? '') && m.ons === (owner?.Namespace ?? '') && m.l === labels && m.id === ctx.containerId && m.cn === ctx.containerName && m.ci === image) return m.text;
  const w = JSON.stringify(who(ctx, labels));
  const text = w.slice(1, -1);
  whoMemo = { c: ctx.clusterName, h: ctx.hostName, n: ctx.namespace, p: ctx.podName, or: owner?.Ref ?? null, on: owner?.Name ?? '', ons: owner?.Namespace ?? '', l: labels, id: ctx.containerId, cn: ctx.containerName, ci: image, text };
  return text;
}

const isoMemo = { ms: NaN, text: '' };

/** JSON of a string, kept for the last two strings it was made for (one memo per field): a busy
 *  pod's logs repeat the parent, the program and the source (a shell and what it runs
 *  alternate), and the kernel module hands the same string object for the same bytes (layout.ts
 *  eventDecoder), so the check is mostly a pointer's. */
interface JsonMemo { s: [string, string]; json: [string, string] }
const jsonMemo = (): JsonMemo => ({ s: ['', ''], json: ['""', '""'] });
const parentJson = jsonMemo();
const exeJson = jsonMemo();
const sourceJson = jsonMemo();

function jsonOf(s: string, m: JsonMemo): string {
  if (s === m.s[0]) return m.json[0];
  if (s === m.s[1]) {
    m.s.reverse();
    m.json.reverse();
    return m.json[0];
  }
  m.s[1] = m.s[0];
  m.json[1] = m.json[0];
  m.s[0] = s;
  m.json[0] = JSON.stringify(s);
  return m.json[0];
}

const OPERATION_JSON: Record<string, string> = Object.fromEntries(Object.entries(OPERATION).map(([k, v]) => [k, JSON.stringify(v)]));

/** Data's JSON per hook for processes and files (`lsm=…` alone); sockets and capabilities add
 *  their resource, made each time. */
const hookDataJson = new Map<string, string>();

function dataJsonOf(e: LogInput): string {
  if (e.kind === 'network' || e.kind === 'capabilities') return JSON.stringify(dataOf(e));
  let j = hookDataJson.get(e.hook);
  if (j === undefined) { j = JSON.stringify(dataOf(e)); hookDataJson.set(e.hook, j); }
  return j;
}

/** The line of one visibility log, exactly logLine(visibilityLog(…)) (a test holds them equal),
 *  without the object: the fields are written in the object's order, the strings through
 *  JSON.stringify, the who part from whoText. Measured by `npm run bench:log-path`. */
export function visibilityLogLine(e: LogInput, ctx: AlertContext, labels: string, now: Date): string {
  const ms = now.getTime();
  // the logs of one ring-buffer poll are handled within the same millisecond
  if (ms !== isoMemo.ms) { isoMemo.ms = ms; isoMemo.text = now.toISOString(); }
  return `{"Timestamp":${Math.floor(ms / 1000)},"UpdatedTime":"${isoMemo.text}",${whoText(ctx, labels)},"HostPID":${e.pid},"HostPPID":${e.ppid},"PPID":${e.ppid},"PID":${e.pid},"UID":${e.uid},"ParentProcessName":${jsonOf(ctx.parentProcessName, parentJson)},"ProcessName":${jsonOf(e.exe, exeJson)},"Type":"ContainerLog","Source":${jsonOf(e.source, sourceJson)},"Operation":${OPERATION_JSON[e.kind]},"Resource":${JSON.stringify(resourceOf(e))},"Data":${dataJsonOf(e)},"Result":"Passed"}\n`;
}
