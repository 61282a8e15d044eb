// A minimal OTLP/HTTP receiver for the demo and the tests: accepts POST /v1/traces and /v1/logs
// with the JSON encoding (OTEL_EXPORTER_OTLP_PROTOCOL=http/json; gzip accepted), keeps the spans
// and log records in memory, and answers an empty export response. Protobuf bodies are refused
// with 415 so that a misconfigured exporter is visible rather than silently lost.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
  kind: number;
  /** Unix epoch milliseconds (microsecond precision). */
  startMs: number;
  endMs: number;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string }[];
  status: { code: number; message?: string };
}

interface OtlpKeyValue { key: string; value: OtlpAnyValue }
interface OtlpAnyValue {
  stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] }; kvlistValue?: { values?: OtlpKeyValue[] };
}

function anyValue(v: OtlpAnyValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  if (v.kvlistValue) return attributes(v.kvlistValue.values);
  return undefined;
}

function attributes(kvs: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of kvs ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

/** OTLP JSON ids are hex strings; some encoders send base64: normalise to lower-case hex. */
function id(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '';
  if (/^[0-9a-fA-F]+$/.test(v) && (v.length === 32 || v.length === 16)) return v.toLowerCase();
  return Buffer.from(v, 'base64').toString('hex');
}

function nanos(v: unknown): bigint {
  if (typeof v === 'string' || typeof v === 'number') return BigInt(v);
  if (typeof v === 'object' && v !== null && 'low' in v && 'high' in v) {
    const o = v as { low: number; high: number };
    return (BigInt(o.high >>> 0) << 32n) | BigInt(o.low >>> 0);
  }
  return 0n;
}

/** The spans of one ExportTraceServiceRequest (JSON). */
export function spansFromOtlpJson(body: unknown): SpanRecord[] {
  const out: SpanRecord[] = [];
  const rs = (body as { resourceSpans?: unknown[] }).resourceSpans ?? [];
  for (const r of rs as { resource?: { attributes?: OtlpKeyValue[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[]) {
    const service = String(attributes(r.resource?.attributes)['service.name'] ?? '?');
    for (const ss of r.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        out.push({
          traceId: id(s.traceId), spanId: id(s.spanId), parentSpanId: id(s.parentSpanId),
          name: String(s.name ?? ''), service, kind: Number(s.kind ?? 0),
          startMs: Number(nanos(s.startTimeUnixNano) / 1000n) / 1000, endMs: Number(nanos(s.endTimeUnixNano) / 1000n) / 1000,
          attributes: attributes(s.attributes as OtlpKeyValue[] | undefined),
          events: ((s.events as { name?: string; attributes?: OtlpKeyValue[] }[] | undefined) ?? [])
            .map((e) => ({ name: String(e.name ?? ''), attributes: attributes(e.attributes) })),
          links: ((s.links as { traceId?: string; spanId?: string }[] | undefined) ?? [])
            .map((l) => ({ traceId: id(l.traceId), spanId: id(l.spanId) })),
          status: { code: Number((s.status as { code?: number } | undefined)?.code ?? 0), ...((s.status as { message?: string } | undefined)?.message ? { message: (s.status as { message: string }).message } : {}) },
        });
      }
    }
  }
  return out;
}

/** One OTLP log record (the enforcer's alerts): its trace context, event name, severity, body. */
export interface LogRecordEntry {
  traceId: string;
  spanId: string;
  eventName: string;
  severityText: string;
  severityNumber: number;
  /** Unix epoch milliseconds. */
  timeMs: number;
  body: unknown;
  attributes: Record<string, unknown>;
  service: string;
  resource: Record<string, unknown>;
}

/** The log records of one ExportLogsServiceRequest (JSON). */
export function logsFromOtlpJson(body: unknown): LogRecordEntry[] {
  const out: LogRecordEntry[] = [];
  const rl = (body as { resourceLogs?: unknown[] }).resourceLogs ?? [];
  for (const r of rl as { resource?: { attributes?: OtlpKeyValue[] }; scopeLogs?: { logRecords?: Record<string, unknown>[] }[] }[]) {
    const resource = attributes(r.resource?.attributes);
    for (const sl of r.scopeLogs ?? []) {
      for (const l of sl.logRecords ?? []) {
        out.push({
          traceId: id(l.traceId), spanId: id(l.spanId), eventName: String(l.eventName ?? ''),
          severityText: String(l.severityText ?? ''), severityNumber: Number(l.severityNumber ?? 0),
          timeMs: Number(nanos(l.timeUnixNano) / 1000n) / 1000, body: anyValue(l.body as OtlpAnyValue | undefined),
          attributes: attributes(l.attributes as OtlpKeyValue[] | undefined), service: String(resource['service.name'] ?? '?'), resource,
        });
      }
    }
  }
  return out;
}

export interface Receiver {
  endpoint: string;
  spans: SpanRecord[];
  logs: LogRecordEntry[];
  /** Requests that could not be used (wrong path, encoding or JSON). */
  problems: string[];
  close(): Promise<void>;
}

export async function startReceiver(host = '127.0.0.1', port = 0): Promise<Receiver> {
  const spans: SpanRecord[] = [];
  const logs: LogRecordEntry[] = [];
  const problems: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (code: number, body: string): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (req.method !== 'POST' || (req.url !== '/v1/traces' && req.url !== '/v1/logs')) {
        if (req.url !== '/v1/metrics') problems.push(`${req.method} ${req.url}: not a trace or log export`);
        return reply(req.url === '/v1/metrics' ? 200 : 404, '{}');
      }
      const what = req.url === '/v1/logs' ? 'log' : 'trace';
      if (!String(req.headers['content-type'] ?? '').includes('json')) {
        problems.push(`${what} export with content-type ${req.headers['content-type']}: only JSON is read here (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)`);
        return reply(415, '{}');
      }
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        const json = JSON.parse(body.toString('utf8')) as unknown;
        if (what === 'log') logs.push(...logsFromOtlpJson(json));
        else spans.push(...spansFromOtlpJson(json));
        reply(200, '{}');
      } catch (e) {
        problems.push(`bad ${what} export: ${e instanceof Error ? e.message : String(e)}`);
        reply(400, '{}');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    endpoint: `http://${host}:${addr.port}`,
    spans,
    logs,
    problems,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
