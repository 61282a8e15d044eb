// The demo's report: what the guest sends back (DemoReport) and how the host prints it — each
// attempt allowed or denied, the alerts in KubeArmor's shape, and the trace from admission to the
// kernel's verdicts drawn as a tree. Pure functions over plain data.
import type { LogRecordEntry, SpanRecord } from './otlp-receiver.ts';

export interface Attempt {
  container: string | null;
  what: string;
  command: string;
  expect: 'allowed' | 'denied';
  outcome: 'allowed' | 'denied' | 'error';
  why: string;
  detail: string;
}

export type Alert = Record<string, unknown>;

export interface DemoReport {
  kernel: string;
  attachMode: string;
  pod: string;
  uid: string;
  annotations: Record<string, string>;
  warnings: string[];
  attempts: Attempt[];
  alerts: Alert[];
  /** How many alerts there were before compaction (alerts keeps every Block and a sample of the rest). */
  alertCount?: number;
  spans: SpanRecord[];
  spanCount?: number;
  /** The enforcer's alerts as OpenTelemetry log records (on the pod's trace, in its attach span). */
  logs?: LogRecordEntry[];
  logCount?: number;
  traceId: string;
  receiverProblems: string[];
}

const KEEP_SAMPLE = 12;

/** Keeps what the report shows: every alert and alert log record that is not an Audit one, and a
 *  sample of the rest (counted), so that the guest → host message stays small. */
export function compactAlerts<T extends { alerts: Alert[]; spans: SpanRecord[]; alertCount?: number; spanCount?: number; logs?: LogRecordEntry[]; logCount?: number }>(r: T): T & { alertCount: number; spanCount: number; logs: LogRecordEntry[]; logCount: number } {
  const loud = (a: Alert): boolean => a.Action !== 'Audit';
  const alerts = [...r.alerts.filter(loud), ...r.alerts.filter((a) => !loud(a)).slice(0, KEEP_SAMPLE)];
  const all = r.logs ?? [];
  const loudLog = (l: LogRecordEntry): boolean => l.attributes['armorgate.alert.action'] !== 'Audit';
  const logs = [...all.filter(loudLog), ...all.filter((l) => !loudLog(l)).slice(0, KEEP_SAMPLE)];
  return { ...r, alerts, alertCount: r.alertCount ?? r.alerts.length, spanCount: r.spanCount ?? r.spans.length, logs, logCount: r.logCount ?? all.length };
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

export function formatAttempts(attempts: readonly Attempt[]): string {
  const lines: string[] = [];
  for (const a of attempts) {
    const mark = a.outcome === a.expect ? (a.outcome === 'denied' ? 'DENIED ' : 'allowed') : `${a.outcome.toUpperCase()} (expected ${a.expect})`;
    const where = a.container === null ? 'outside any pod' : `container ${a.container}`;
    lines.push(`  ${pad(mark, 8)} ${pad(where, 22)} ${a.what}`);
    lines.push(`  ${' '.repeat(8)} ${' '.repeat(22)} $ ${a.command}${a.detail ? `   → ${a.detail}` : ''}`);
    lines.push(`  ${' '.repeat(8)} ${' '.repeat(22)}   (${a.why})`);
  }
  return lines.join('\n');
}

/** One line per alert, the fields an operator reads first; `full` prints whole JSON objects. */
export function formatAlerts(alerts: readonly Alert[], total: number, full = 2): string {
  const lines: string[] = [];
  const blocks = alerts.filter((a) => a.Action === 'Block');
  const others = alerts.filter((a) => a.Action !== 'Block');
  const line = (a: Alert): string =>
    `  ${pad(String(a.Action), 6)} ${pad(String(a.Operation), 8)} ${pad(String(a.Result), 24)} ${pad(String(a.ContainerName), 12)} ${a.ProcessName} → ${a.Resource}   [${a.PolicyName}]`;
  lines.push(`  ${total} alerts in all: ${blocks.length} Block${others.length ? `, ${total - blocks.length} others (${others.length} shown)` : ''}`);
  for (const a of blocks) lines.push(line(a));
  for (const a of others) lines.push(line(a));
  for (const a of blocks.slice(0, full)) {
    lines.push('', '  As the enforcer writes it (one JSON line each, KubeArmor\'s alert shape):', JSON.stringify(a, null, 2).replace(/^/gm, '    '));
  }
  return lines.join('\n');
}

function dur(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function spanLabel(s: SpanRecord, t0: number): string {
  const attrs = Object.entries(s.attributes)
    .filter(([k]) => /^(k8s\.pod\.name|armorgate\.(policies|profile\.digest|endpoint|alert\.(action|operation))|armorgate\.decision.*|armorgate\.admission.*)$/.test(k))
    .map(([k, v]) => `${k.replace(/^armorgate\./, '')}=${String(v).length > 60 ? `${String(v).slice(0, 57)}...` : String(v)}`);
  const err = s.status.code === 2 ? ` ERROR${s.status.message ? `: ${s.status.message}` : ''}` : '';
  return `${s.name}  [${s.service}]  +${dur(s.startMs - t0)}, ${dur(s.endMs - s.startMs)}${err}${attrs.length ? `  ${attrs.join(' ')}` : ''}`;
}

function alertText(l: LogRecordEntry): string {
  const b = (typeof l.body === 'object' && l.body !== null ? l.body : {}) as Record<string, unknown>;
  const a = l.attributes;
  return `${String(b.Action ?? a['armorgate.alert.action'] ?? '?')} ${String(b.Operation ?? a['armorgate.alert.operation'] ?? '')} ${String(b.ProcessName ?? '')} → ${String(b.Resource ?? '')} : ${String(b.Result ?? '')}  [${String(b.PolicyName ?? '')}]`;
}

/**
 * The trace of `traceId` as a tree (parent → children by start time); log records of the trace
 * (the enforcer's alerts, recorded in the pod's attach span) hang under their span as "log".
 * Other spans are counted, not drawn.
 */
export function formatTraceTree(spans: readonly SpanRecord[], traceId: string, totalSpans = spans.length, auditTotal?: number, logs: readonly LogRecordEntry[] = []): string {
  const inTrace = spans.filter((s) => s.traceId === traceId);
  if (inTrace.length === 0) return '  (no span of the trace reached the receiver)';
  const byId = new Map(inTrace.map((s) => [s.spanId, s]));
  const children = new Map<string, SpanRecord[]>();
  const roots: SpanRecord[] = [];
  for (const s of inTrace) {
    if (s.parentSpanId && byId.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const linked = new Map<string, LogRecordEntry[]>();
  for (const l of logs) {
    if (l.traceId !== traceId || !byId.has(l.spanId)) continue;
    const list = linked.get(l.spanId) ?? [];
    list.push(l);
    linked.set(l.spanId, list);
  }
  const t0 = Math.min(...inTrace.map((s) => s.startMs));
  const lines: string[] = [];
  const draw = (s: SpanRecord, prefix: string, last: boolean, top: boolean): void => {
    lines.push(`${prefix}${top ? '' : last ? '└─ ' : '├─ '}${spanLabel(s, t0)}`);
    const next = top ? prefix : prefix + (last ? '   ' : '│  ');
    const kids = (children.get(s.spanId) ?? []).sort((a, b) => a.startMs - b.startMs);
    const links = (linked.get(s.spanId) ?? []).sort((a, b) => a.timeMs - b.timeMs);
    kids.forEach((k, i) => draw(k, next, i === kids.length - 1 && links.length === 0, false));
    // Verdicts that denied something one by one; the audit ones (allow-list mode under an audit
    // posture reports every other file a process touches) as one line.
    const audits = links.filter((k) => k.attributes['armorgate.alert.action'] === 'Audit');
    const shown = links.filter((k) => k.attributes['armorgate.alert.action'] !== 'Audit');
    const rows = shown.map((k) => `log: ${k.eventName}  [${k.service}]  +${dur(k.timeMs - t0)}  ${alertText(k)}`);
    if (audits.length > 0) {
      rows.push(`log: ${auditTotal ?? audits.length} audit alerts (Passed), e.g. ${alertText(audits[0] as LogRecordEntry)}`);
    }
    rows.forEach((row, i) => lines.push(`${next}${i === rows.length - 1 ? '└┈ ' : '├┈ '}${row}`));
  };
  roots.sort((a, b) => a.startMs - b.startMs).forEach((r) => draw(r, '  ', true, true));
  const more = totalSpans - inTrace.length;
  if (more > 0) lines.push(`  (${more} more spans received, outside this trace)`);
  return lines.join('\n');
}

export function formatReport(r: DemoReport): string {
  const ok = r.attempts.filter((a) => a.outcome === a.expect).length;
  const ann = Object.entries(r.annotations).filter(([k]) => k.startsWith('armorgate.io/'))
    .map(([k, v]) => `  ${k}: ${v.length > 100 ? `${v.slice(0, 97)}... (${v.length} bytes)` : v}`);
  return [
    `ArmorGate demo — kernel ${r.kernel}, attach mode ${r.attachMode}, pod ${r.pod} (uid ${r.uid})`,
    '',
    'Annotations set at admission (POST /mutate-pod):',
    ...ann,
    ...(r.warnings.length ? ['  admission warnings:', ...r.warnings.map((w) => `    ${w}`)] : []),
    '',
    `The attacker's attempts (${ok} of ${r.attempts.length} as the policies say):`,
    formatAttempts(r.attempts),
    '',
    'Alerts (enforcer stdout):',
    formatAlerts(r.alerts, r.alertCount ?? r.alerts.length),
    '',
    `Trace ${r.traceId}, from admission to the kernel's verdicts:`,
    formatTraceTree(r.spans, r.traceId, r.spanCount ?? r.spans.length, r.alertCount !== undefined ? r.alertCount - r.alerts.filter((a) => a.Action !== 'Audit').length : undefined, r.logs ?? []),
    ...(r.receiverProblems.length ? ['', 'OTLP receiver problems:', ...r.receiverProblems.map((p) => `  ${p}`)] : []),
  ].join('\n');
}
