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
