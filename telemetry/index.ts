// OpenTelemetry set-up shared by the webhook and the enforcer.
//
// Configured only through the standard OTEL_* environment variables:
//   OTEL_SDK_DISABLED=true                 no providers at all (spans are non-recording no-ops)
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES   resource (service.name defaults to the caller's name)
//   OTEL_TRACES_EXPORTER=otlp|console|none  default: otlp when an OTLP endpoint is set, else none
//   OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER  same rule for metrics and log records (the alerts)
//   OTEL_EXPORTER_OTLP_PROTOCOL (and ..._TRACES_/_METRICS_/_LOGS_PROTOCOL): http/protobuf (default)
//     or http/json; grpc and anything else refused (config.ts)
//   OTEL_PROPAGATORS=tracecontext,baggage|none  (others refused)
//   OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / ..._METRICS_ / ..._LOGS_ENDPOINT,
//   OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT   read by the OTLP/HTTP exporters themselves
//   Resource: service.name, service.version (package.json), service.instance.id (POD_UID, else a
//   random UUID), k8s.node.name (NODE_NAME), k8s.pod.name (POD_NAME), k8s.namespace.name
//   (POD_NAMESPACE): the manifests set those from the downward API; OTEL_RESOURCE_ATTRIBUTES wins
//   OTEL_TRACES_SAMPLER=always_on|always_off|traceidratio|parentbased_*, OTEL_TRACES_SAMPLER_ARG
//   OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000)
//   OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_EXPORT_TIMEOUT
// Nothing is exported when no endpoint and no exporter is set: spans then exist only for their
// context (real trace and span ids and the sampler's flag, so a traceparent can be written);
// they record nothing (the SDK's span objects, attribute copies and self-metrics are skipped).
//
// API:
//   setupTelemetry({ serviceName, env?, spanProcessors?, logProcessors? }) -> Telemetry { tracer, meter, logger, shutdown(), forceFlush() }
//     (throws, naming the variable, on an OTEL_* value it cannot honour: see config.ts)
//   contextFromTraceparent(traceparent, tracestate?) -> Context  (ROOT_CONTEXT when absent or invalid)
//   formatTraceparent(spanContext) -> '00-<trace>-<span>-<flags>'
import { randomFillSync, randomUUID } from 'node:crypto';
import {
  context as apiContext, logs as apiLogs, metrics as apiMetrics, propagation, trace, ROOT_CONTEXT, SamplingDecision, SpanKind, TraceFlags,
  type Context, type Logger, type Meter, type Span, type SpanContext, type SpanOptions, type Tracer, type TextMapGetter, type TextMapPropagator,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPTraceExporterProto } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPLogExporter as OTLPLogExporterJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogExporterProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { BatchLogRecordProcessor, ConsoleLogRecordExporter, LoggerProvider, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { defaultResource, resourceFromAttributes, envDetector, detectResources } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler,
  TraceIdRatioBasedSampler, TracerProvider, type Sampler, type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { otelConfig } from './config.ts';
import { version } from './version.ts';

export interface Telemetry {
  tracer: Tracer;
  meter: Meter;
  /** OpenTelemetry log records (the enforcer's alerts); a no-op logger when none are exported. */
  logger: Logger;
  /** True when log records leave the process (else the logger is a no-op: skip building them). */
  logsExporting?: boolean;
  /** True when spans leave the process (an exporter is configured). */
  exporting: boolean;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  serviceName: string;
  /** Defaults to process.env; tests pass their own. */
  env?: Record<string, string | undefined>;
  /** Extra span processors (tests pass a SimpleSpanProcessor over an InMemorySpanExporter). */
  spanProcessors?: SpanProcessor[];
  /** Extra log record processors (tests pass a SimpleLogRecordProcessor over an in-memory exporter). */
  logProcessors?: LogRecordProcessor[];
  /** Register as the global providers (default true). */
  global?: boolean;
}

const propagator = new W3CTraceContextPropagator();
let contextManagerSet = false;
/** Whether incoming traceparent headers are continued (OTEL_PROPAGATORS names tracecontext). */
let continueHeaders = true;

function flag(v: string | undefined): boolean {
  return v !== undefined && v.trim().toLowerCase() === 'true';
}

/** The resource attributes the process knows of itself (OTEL_RESOURCE_ATTRIBUTES is merged over them). */
export function selfAttributes(serviceName: string, env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {
    [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME ?? serviceName,
    [ATTR_SERVICE_VERSION]: version(),
    'service.instance.id': env.POD_UID !== undefined && env.POD_UID !== '' ? env.POD_UID : randomUUID(),
  };
  const from: [string, string | undefined][] = [['k8s.node.name', env.NODE_NAME], ['k8s.pod.name', env.POD_NAME], ['k8s.namespace.name', env.POD_NAMESPACE]];
  for (const [k, v] of from) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

function samplerFromEnv(env: Record<string, string | undefined>): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? 'parentbased_always_on').trim().toLowerCase();
  const argNum = Number(env.OTEL_TRACES_SAMPLER_ARG);
  const ratio = Number.isFinite(argNum) && argNum >= 0 && argNum <= 1 ? argNum : 1;
  switch (name) {
    case 'always_on': return new AlwaysOnSampler();
    case 'always_off': return new AlwaysOffSampler();
    case 'traceidratio': return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off': return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio': return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default: return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** OTEL_BSP_* (the batch span processor's standard variables; this SDK does not read them). */
function batchOptions(env: Record<string, string | undefined>): { scheduledDelayMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number; exportTimeoutMillis?: number } {
  const num = (v: string | undefined): number | undefined => {
    const n = Number(v);
    return v !== undefined && v.trim() !== '' && Number.isFinite(n) && n > 0 ? n : undefined;
  };
  const out: { scheduledDelayMillis?: number; maxQueueSize?: number; maxExportBatchSize?: number; exportTimeoutMillis?: number } = {};
  const delay = num(env.OTEL_BSP_SCHEDULE_DELAY), queue = num(env.OTEL_BSP_MAX_QUEUE_SIZE);
  const batch = num(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE), timeout = num(env.OTEL_BSP_EXPORT_TIMEOUT);
  if (delay !== undefined) out.scheduledDelayMillis = delay;
  if (queue !== undefined) out.maxQueueSize = queue;
  if (batch !== undefined) out.maxExportBatchSize = queue !== undefined ? Math.min(batch, queue) : batch;
  if (timeout !== undefined) out.exportTimeoutMillis = timeout;
  return out;
}

const ids = Buffer.alloc(24 * 256);
let idsAt = ids.length;
/** Random hex of `bytes` bytes, never all zeros (an invalid id). */
function randomId(bytes: number): string {
  for (;;) {
    if (idsAt + bytes > ids.length) { randomFillSync(ids); idsAt = 0; }
    const hex = ids.toString('hex', idsAt, idsAt + bytes);
    idsAt += bytes;
    if (!/^0+$/.test(hex)) return hex;
  }
}

/** The tracer when no span leaves the process: each span is the span context the SDK would
 *  give it (trace id continued from a valid parent or new, a new span id, the configured
 *  sampler's flag and trace state) wrapped as a non-recording span. What an SDK span adds
 *  (attribute copies, timing, the SDK's own metrics) would only be dropped. */
export class ContextOnlyTracer implements Tracer {
  readonly #sampler: Sampler;
  constructor(sampler: Sampler) { this.#sampler = sampler; }

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = apiContext.active()): Span {
    if (options.root === true) ctx = trace.deleteSpan(ctx);
    const parent = trace.getSpanContext(ctx);
    const valid = parent !== undefined && trace.isSpanContextValid(parent);
    const traceId = valid ? parent.traceId : randomId(16);
    const r = this.#sampler.shouldSample(ctx, traceId, name, options.kind ?? SpanKind.INTERNAL, options.attributes ?? {}, options.links ?? []);
    const sc: SpanContext = { traceId, spanId: randomId(8), traceFlags: r.decision === SamplingDecision.RECORD_AND_SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE };
    const traceState = r.traceState ?? (valid ? parent.traceState : undefined);
    if (traceState !== undefined) sc.traceState = traceState;
    return trace.wrapSpanContext(sc);
  }

  startActiveSpan<F extends (span: Span) => unknown>(name: string, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, options: SpanOptions, ctx: Context, fn: F): ReturnType<F>;
  startActiveSpan<F extends (span: Span) => unknown>(name: string, a: SpanOptions | F, b?: Context | F, c?: F): ReturnType<F> {
    const fn = (c ?? (typeof b === 'function' ? b : a)) as F;
    const options = typeof a === 'object' ? a : {};
    const ctx = b !== undefined && typeof b === 'object' ? b : apiContext.active();
    const span = this.startSpan(name, options, ctx);
    return apiContext.with(trace.setSpan(ctx, span), () => fn(span)) as ReturnType<F>;
  }
}

/** Builds tracer and meter providers from OTEL_* variables. Safe to call more than once
 *  (tests do); each call returns independent providers, the last one registered globally. */
export function setupTelemetry(options: TelemetryOptions): Telemetry {
  const env = options.env ?? process.env;
  if (!contextManagerSet) {
    apiContext.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextManagerSet = true;
  }
  if (flag(env.OTEL_SDK_DISABLED)) {
    return {
      tracer: trace.getTracer(options.serviceName), meter: apiMetrics.getMeter(options.serviceName), logger: apiLogs.getLogger(options.serviceName),
      exporting: false, forceFlush: async () => {}, shutdown: async () => {},
    };
  }
  const cfg = otelConfig(env);
  if (!cfg.ok) throw new Error(cfg.error.message);
  const config = cfg.value;
  if (options.global !== false) {
    const chosen: TextMapPropagator[] = config.propagators.map((p) => (p === 'tracecontext' ? propagator : new W3CBaggagePropagator()));
    propagation.disable();
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: chosen }));
    continueHeaders = config.propagators.includes('tracecontext');
  }
  // envDetector reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME from process.env
  const detected = env === process.env ? detectResources({ detectors: [envDetector] }) : resourceFromAttributes({});
  const resource = defaultResource()
    .merge(resourceFromAttributes(selfAttributes(options.serviceName, env)))
    .merge(detected);

  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  const traces = config.exporter.traces;
  const bsp = batchOptions(env);
  if (traces === 'otlp') processors.push(new BatchSpanProcessor({ exporter: config.protocol.traces === 'http/json' ? new OTLPTraceExporterJson() : new OTLPTraceExporterProto(), ...bsp }));
  else if (traces === 'console') processors.push(new BatchSpanProcessor({ exporter: new ConsoleSpanExporter(), ...bsp }));
  const sampler = samplerFromEnv(env);
  const tracerProvider = new TracerProvider({ resource, sampler, spanProcessors: processors });

  const readers: MetricReader[] = [];
  const metricsChoice = config.exporter.metrics;
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  const exportIntervalMillis = Number.isFinite(interval) && interval > 0 ? interval : 60000;
  if (metricsChoice === 'otlp') readers.push(new PeriodicExportingMetricReader({ exporter: config.protocol.metrics === 'http/json' ? new OTLPMetricExporterJson() : new OTLPMetricExporterProto(), exportIntervalMillis }));
  else if (metricsChoice === 'console') readers.push(new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis }));
  const meterProvider = new MeterProvider({ resource, readers });

  // log records: the enforcer's alerts, batched like spans (OTEL_BLRP_* are not read: OTEL_BSP_* apply)
  const logProcessors: LogRecordProcessor[] = [...(options.logProcessors ?? [])];
  if (config.exporter.logs === 'otlp') logProcessors.push(new BatchLogRecordProcessor({ exporter: config.protocol.logs === 'http/json' ? new OTLPLogExporterJson() : new OTLPLogExporterProto(), ...bsp }));
  else if (config.exporter.logs === 'console') logProcessors.push(new BatchLogRecordProcessor({ exporter: new ConsoleLogRecordExporter(), ...bsp }));
  const loggerProvider = logProcessors.length === 0 ? null : new LoggerProvider({ resource, processors: logProcessors });

  if (options.global !== false) {
    trace.disable();
    trace.setGlobalTracerProvider(tracerProvider);
    apiMetrics.disable();
    apiMetrics.setGlobalMeterProvider(meterProvider);
    apiLogs.disable();
    if (loggerProvider !== null) apiLogs.setGlobalLoggerProvider(loggerProvider);
  }
  return {
    tracer: processors.length === 0 ? new ContextOnlyTracer(sampler) : tracerProvider.getTracer(options.serviceName),
    meter: meterProvider.getMeter(options.serviceName),
    logger: loggerProvider === null ? apiLogs.getLogger(options.serviceName) : loggerProvider.getLogger(options.serviceName, version()),
    logsExporting: loggerProvider !== null,
    exporting: processors.length > (options.spanProcessors?.length ?? 0),
    forceFlush: async () => { await Promise.allSettled([tracerProvider.forceFlush(), meterProvider.forceFlush(), loggerProvider?.forceFlush()]); },
    shutdown: async () => { await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider?.shutdown()]); },
  };
}

const headerGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** The context to start a span in so that it continues the W3C trace given by a
 *  `traceparent` (and optional `tracestate`) header; ROOT_CONTEXT when absent or malformed. */
export function contextFromTraceparent(traceparent: string | string[] | undefined, tracestate?: string | string[]): Context {
  if (!continueHeaders) return ROOT_CONTEXT;
  const tp = Array.isArray(traceparent) ? traceparent[0] : traceparent;
  if (typeof tp !== 'string' || tp === '') return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent: tp };
  const ts = Array.isArray(tracestate) ? tracestate.join(',') : tracestate;
  if (typeof ts === 'string' && ts !== '') carrier.tracestate = ts;
  return propagator.extract(ROOT_CONTEXT, carrier, headerGetter);
}

/** W3C traceparent of a span context: version 00, trace id, span id, two hex flag digits. */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}
