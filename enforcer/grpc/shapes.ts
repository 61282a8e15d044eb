// ArmorGate's alerts, logs and messages as KubeArmor's protobuf messages (enforcer/grpc/
// kubearmor.proto; field names as proto-loader keeps them with keepCase). Filled as KubeArmor's
// feeder fills them: ATags from Tags, EventData from the `key=value` words of Data (and of
// Resource for Network), Severity only when set, ExecEvent always present. Pure.
import type { KubeArmorAlert } from '../alerts.ts';
import type { KubeArmorLog } from '../visibility.ts';

export interface PbExecEvent { ExecID: string; ExecutableName: string }

export type PbAlert = Omit<KubeArmorAlert, 'Type' | 'Enforcer'> & {
  Type: string;
  Enforcer: string;
  EventData: Record<string, string>;
  ExecEvent: PbExecEvent;
};

export type PbLog = Omit<KubeArmorLog, 'Type'> & {
  Type: string;
  EventData: Record<string, string>;
  ExecEvent: PbExecEvent;
};

export interface PbMessage {
  Timestamp: number;
  UpdatedTime: string;
  ClusterName: string;
  HostName: string;
  HostIP: string;
  Type: 'Message';
  Level: string;
  Message: string;
}

/** KubeArmor's parseDataString: the `key=value` words of a Data or Resource string. */
export function eventData(...texts: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of texts) {
    for (const word of t.split(/\s+/)) {
      const eq = word.indexOf('=');
      if (eq > 0) out[word.slice(0, eq)] = word.slice(eq + 1);
    }
  }
  return out;
}

function execEvent(processName: string): PbExecEvent {
  return { ExecID: '', ExecutableName: processName.slice(processName.lastIndexOf('/') + 1) };
}

export function pbAlert(a: KubeArmorAlert): PbAlert {
  return {
    ...a,
    ATags: a.Tags === '' ? [] : a.Tags.split(','),
    EventData: a.Operation === 'Network' ? eventData(a.Data, a.Resource) : eventData(a.Data),
    ExecEvent: execEvent(a.ProcessName),
  };
}

export function pbLog(l: KubeArmorLog): PbLog {
  return {
    ...l,
    EventData: l.Operation === 'Network' ? eventData(l.Data, l.Resource) : eventData(l.Data),
    ExecEvent: execEvent(l.ProcessName),
  };
}

/** pino's numeric levels as KubeArmor's message levels. */
export function levelName(level: number): string {
  return level >= 50 ? 'ERROR' : level >= 40 ? 'WARN' : level >= 30 ? 'INFO' : 'DEBUG';
}

/** Where a message comes from: the cluster, the node's name and its IP. */
export interface MessageOrigin { cluster: string; host: string; hostIP: string }

export function pbMessage(level: string, message: string, from: MessageOrigin, now: Date): PbMessage {
  return {
    Timestamp: Math.floor(now.getTime() / 1000), UpdatedTime: now.toISOString(),
    ClusterName: from.cluster, HostName: from.host, HostIP: from.hostIP, Type: 'Message', Level: level, Message: message,
  };
}
