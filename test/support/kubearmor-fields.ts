// KubeArmor's feeder wire contract as a table, for tests only: message → field name → number and
// type. Written by hand from KubeArmor's published protobuf/kubearmor.proto (package feeder,
// service LogService; read at kubearmor/KubeArmor 510cee3, July 2026), independently of the
// product's enforcer/grpc/kubearmor.proto, so a wrong number in the product's file fails a test
// instead of passing every test built from it. Never import this from the product.

/** A field's type as the .proto spells it: a scalar, `repeated string`, a message of this
 *  package, or the one map type the contract uses. */
export type FieldType = 'int32' | 'int64' | 'string' | 'repeated string' | 'Podowner' | 'ExecEvent' | 'map<string,string>';

export interface FieldSpec { number: number; type: FieldType }

/** Protobuf wire types: 0 varint (int32, int64), 2 length-delimited (strings, messages, map
 *  entries, each element of a repeated string). */
export function wireType(t: FieldType): 0 | 2 {
  return t === 'int32' || t === 'int64' ? 0 : 2;
}

export const KUBEARMOR_SERVICE = { package: 'feeder', service: 'LogService' } as const;

/** rpc → [request message, response message, server-streaming] */
export const KUBEARMOR_RPCS: Record<string, [string, string, boolean]> = {
  HealthCheck: ['NonceMessage', 'ReplyMessage', false],
  WatchMessages: ['RequestMessage', 'Message', true],
  WatchAlerts: ['RequestMessage', 'Alert', true],
  WatchLogs: ['RequestMessage', 'Log', true],
};

const s = (number: number): FieldSpec => ({ number, type: 'string' });
const i32 = (number: number): FieldSpec => ({ number, type: 'int32' });
const i64 = (number: number): FieldSpec => ({ number, type: 'int64' });

export const KUBEARMOR_FIELDS: Record<string, Record<string, FieldSpec>> = {
  NonceMessage: { nonce: i32(1) },
  ReplyMessage: { Retval: i32(1) },
  RequestMessage: { Filter: s(1) },
  Message: {
    Timestamp: i64(1), UpdatedTime: s(2), ClusterName: s(3), HostName: s(4), HostIP: s(5),
    Type: s(6), Level: s(7), Message: s(8),
  },
  Podowner: { Ref: s(1), Name: s(2), Namespace: s(3) },
  ExecEvent: { ExecID: s(1), ExecutableName: s(2) },
  Alert: {
    Timestamp: i64(1), UpdatedTime: s(2), ClusterName: s(3), HostName: s(4),
    NamespaceName: s(5), PodName: s(6), ContainerID: s(7), ContainerName: s(8),
    HostPID: i32(9), PPID: i32(10), PID: i32(11), UID: i32(12),
    PolicyName: s(13), Severity: s(14), Tags: s(15), Message: s(16),
    Type: s(17), Source: s(18), Operation: s(19), Resource: s(20), Data: s(21),
    Action: s(22), Result: s(23), ContainerImage: s(24), ParentProcessName: s(25), ProcessName: s(26),
    HostPPID: i32(27), Enforcer: s(28), Labels: s(29),
    ATags: { number: 30, type: 'repeated string' },
    Owner: { number: 31, type: 'Podowner' },
    Cwd: s(32), TTY: s(33), MaxAlertsPerSec: i32(34), DroppingAlertsInterval: i32(35),
    ExecEvent: { number: 36, type: 'ExecEvent' },
    KubeArmorVersion: s(37), NodeID: s(38), ProcessHash: s(39), ParentHash: s(40), ResourceHash: s(41), HashAlgo: s(42),
    EventData: { number: 43, type: 'map<string,string>' },
    UserName: s(44),
  },
  Log: {
    Timestamp: i64(1), UpdatedTime: s(2), ClusterName: s(3), HostName: s(4),
    NamespaceName: s(5), PodName: s(6), ContainerID: s(7), ContainerName: s(8),
    HostPID: i32(9), PPID: i32(10), PID: i32(11), UID: i32(12),
    Type: s(13), Source: s(14), Operation: s(15), Resource: s(16), Data: s(17), Result: s(18),
    ContainerImage: s(19), ParentProcessName: s(20), ProcessName: s(21), HostPPID: i32(22), Labels: s(23),
    Owner: { number: 24, type: 'Podowner' },
    Cwd: s(25), TTY: s(26),
    ExecEvent: { number: 27, type: 'ExecEvent' },
    NodeID: s(28), ProcessHash: s(29), ParentHash: s(30), ResourceHash: s(31), HashAlgo: s(32),
    EventData: { number: 33, type: 'map<string,string>' },
    UserName: s(34),
  },
};

/** The field of `message` that has `number`, or undefined. */
export function fieldByNumber(message: string, number: number): [string, FieldSpec] | undefined {
  return Object.entries(KUBEARMOR_FIELDS[message] ?? {}).find(([, f]) => f.number === number);
}
