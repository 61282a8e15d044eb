// Alerts (and visibility logs of the same shape) as OpenTelemetry log records on the pod's trace:
// the record's context is the pod's attach span (which continues the admission trace from the
// pod's armorgate.io/traceparent), so a backend shows admission, attach and every alert of the pod
// on one trace. The body is the alert as KubeArmor writes it; the attributes are what to filter on.
import { ROOT_CONTEXT, SeverityNumber, isSpanContextValid, trace, type Attributes, type Logger, type LogRecord, type SpanContext } from '@opentelemetry/api';
import type { KubeArmorAlert } from './alerts.ts';

/** What a record is made from: an alert, or any log in KubeArmor's shape (visibility logs). */
export type AlertLike = Omit<Partial<KubeArmorAlert>, 'Type'> & { Type: string; UpdatedTime: string };

export const ALERT_EVENT_NAME = 'armorgate.alert';

function severity(a: AlertLike): [SeverityNumber, string] {
  if (a.Type === 'MatchedPolicy') {
    if (a.Action === 'Block' || (a.Result !== undefined && a.Result !== 'Passed')) return [SeverityNumber.WARN, 'WARN'];
    return [SeverityNumber.INFO, 'INFO'];
  }
  if (a.Type === 'SystemEvent') return [SeverityNumber.WARN, 'WARN']; // a pod not enforced, events dropped
  return [SeverityNumber.INFO, 'INFO']; // visibility logs
}

/** The log record of one alert; `span`: the pod's attach span (null: a new, unrelated record). */
export function alertRecord(a: AlertLike, span: SpanContext | null): LogRecord {
  const [severityNumber, severityText] = severity(a);
  const attributes: Attributes = { 'armorgate.alert.type': a.Type };
  const put = (k: string, v: string | number | undefined): void => { if (v !== undefined && v !== '') attributes[k] = v; };
  put('k8s.namespace.name', a.NamespaceName);
  put('k8s.pod.name', a.PodName);
  put('k8s.container.name', a.ContainerName);
  put('container.id', a.ContainerID);
  put('k8s.node.name', a.HostName);
  put('k8s.cluster.name', a.ClusterName);
  put('armorgate.alert.operation', a.Operation);
  put('armorgate.alert.action', a.Action);
  put('armorgate.alert.result', a.Result);
  put('armorgate.policy.name', a.PolicyName);
  put('armorgate.alert.resource', a.Resource);
  put('process.executable.path', a.ProcessName);
  if (a.PID !== undefined && a.PID !== 0) attributes['process.pid'] = a.PID;
  const record: LogRecord = {
    eventName: ALERT_EVENT_NAME,
    timestamp: new Date(a.UpdatedTime),
    severityNumber, severityText,
    // the alert's own fields (strings, numbers, a string list): never changed once emitted
    body: a as unknown as LogRecord['body'],
    attributes,
  };
  if (span !== null && isSpanContextValid(span)) record.context = trace.setSpanContext(ROOT_CONTEXT, span);
  return record;
}

/** Emits each alert as a log record through `logger` (the SDK batches and exports them). */
export function alertRecorder(logger: Logger): (a: AlertLike, span: SpanContext | null) => void {
  return (a, span) => { logger.emit(alertRecord(a, span)); };
}
