// OpenTelemetry set-up shared by the webhook and the enforcer.
//
// Configured only through the standard OTEL_* environment variables:
//   OTEL_SDK_DISABLED=true                 no providers at all (spans are non-recording no-ops)
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES   resource (service.name defaults to the caller's name)
//   OTEL_TRACES_EXPORTER=otlp|console|none  default: otlp when an OTLP endpoint is set, else none
//   OTEL_METRICS_EXPORTER=otlp|console|none same rule for metrics
//   OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / ..._METRICS_ENDPOINT,
//   OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT   read by the OTLP/HTTP exporters themselves
//   OTEL_TRACES_SAMPLER=always_on|always_off|traceidratio|parentbased_*, OTEL_TRACES_SAMPLER_ARG
//   OTEL_METRIC_EXPORT_INTERVAL (ms, default 60000)
//   OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE, OTEL_BSP_EXPORT_TIMEOUT
// Nothing is exported when no endpoint and no exporter is set: spans then exist only for their
// context (real trace and span ids and the sampler's flag, so a traceparent can be written);
// they record nothing (the SDK's span objects, attribute copies and self-metrics are skipped).
//
// API:
//   setupTelemetry({ serviceName, env?, spanProcessors? }) -> Telemetry { tracer, meter, shutdown(), forceFlush() }
//   contextFromTraceparent(traceparent, tracestate?) -> Context  (ROOT_CONTEXT when absent or invalid)
//   formatTraceparent(spanContext) -> '00-<trace>-<span>-<flags>'
import { randomFillSync } from 'node:crypto';
import {
  context as apiContext, metrics as apiMetrics, propagation, trace, ROOT_CONTEXT, SamplingDecision, SpanKind, TraceFlags,
  type Context, type Meter, type Span, type SpanContext, type SpanOptions, type Tracer, type TextMapGetter,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { defaultResource, resourceFromAttributes, envDetector, detectResources } from '@opentelemetry/resources';
import {
  AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ConsoleSpanExporter, ParentBasedSampler,
  TraceIdRatioBasedSampler, TracerProvider, type Sampler, type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricReader } from '@opentelemetry/sdk-metrics';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export interface Telemetry {
  tracer: Tracer;
  meter: Meter;
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
  /** Register as the global providers (default true). */
  global?: boolean;
}

const propagator = new W3CTraceContextPropagator();
let contextManagerSet = false;

function flag(v: string | undefined): boolean {
  return v !== undefined && v.trim().toLowerCase() === 'true';
}

function exporterChoice(explicit: string | undefined, endpoints: (string | undefined)[]): string {
  const e = explicit?.trim().toLowerCase();
  if (e) return e.split(',')[0]!.trim();
  return endpoints.some((x) => x !== undefined && x.trim() !== '') ? 'otlp' : 'none';
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
    propagation.setGlobalPropagator(propagator);
    contextManagerSet = true;
  }
  if (flag(env.OTEL_SDK_DISABLED)) {
    return {
      tracer: trace.getTracer(options.serviceName), meter: apiMetrics.getMeter(options.serviceName), exporting: false,
      forceFlush: async () => {}, shutdown: async () => {},
    };
  }
  // envDetector reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME from process.env
  const detected = env === process.env ? detectResources({ detectors: [envDetector] }) : resourceFromAttributes({});
  const resource = defaultResource()
    .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME ?? options.serviceName }))
    .merge(detected);

  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  const traces = exporterChoice(env.OTEL_TRACES_EXPORTER, [env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT]);
  const bsp = batchOptions(env);
  if (traces === 'otlp') processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), ...bsp }));
  else if (traces === 'console') processors.push(new BatchSpanProcessor({ exporter: new ConsoleSpanExporter(), ...bsp }));
  const sampler = samplerFromEnv(env);
  const tracerProvider = new TracerProvider({ resource, sampler, spanProcessors: processors });

  const readers: MetricReader[] = [];
  const metricsChoice = exporterChoice(env.OTEL_METRICS_EXPORTER, [env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT]);
  const interval = Number(env.OTEL_METRIC_EXPORT_INTERVAL);
  const exportIntervalMillis = Number.isFinite(interval) && interval > 0 ? interval : 60000;
  if (metricsChoice === 'otlp') readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis }));
  else if (metricsChoice === 'console') readers.push(new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis }));
  const meterProvider = new MeterProvider({ resource, readers });

  if (options.global !== false) {
    trace.disable();
    trace.setGlobalTracerProvider(tracerProvider);
    apiMetrics.disable();
    apiMetrics.setGlobalMeterProvider(meterProvider);
  }
  return {
    tracer: processors.length === 0 ? new ContextOnlyTracer(sampler) : tracerProvider.getTracer(options.serviceName),
    meter: meterProvider.getMeter(options.serviceName),
    exporting: processors.length > (options.spanProcessors?.length ?? 0),
    forceFlush: async () => { await Promise.allSettled([tracerProvider.forceFlush(), meterProvider.forceFlush()]); },
    shutdown: async () => { await Promise.allSettled([tracerProvider.shutdown(), meterProvider.shutdown()]); },
  };
}

const headerGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** The context to start a span in so that it continues the W3C trace given by a
 *  `traceparent` (and optional `tracestate`) header; ROOT_CONTEXT when absent or malformed. */
export function contextFromTraceparent(traceparent: string | string[] | undefined, tracestate?: string | string[]): Context {
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
