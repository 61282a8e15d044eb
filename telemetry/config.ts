// The OTEL_* settings this project honours beyond what the exporters read themselves, checked
// before anything starts: a value it cannot honour is refused with a message naming the variable,
// the value and the choices, never ignored. Pure (no SDK import): the CLI checks it at start.
//   OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_PROTOCOL:
//     http/protobuf (the default) or http/json; grpc is refused (no gRPC exporter in this build)
//   OTEL_PROPAGATORS: tracecontext, baggage, none (default tracecontext,baggage)
//   OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER: otlp, console, none
import { err, ok, type Result } from '../policy/types.ts';

export type Signal = 'traces' | 'metrics' | 'logs';
export type Protocol = 'http/protobuf' | 'http/json';
export type Propagator = 'tracecontext' | 'baggage';

export interface OtelConfig {
  protocol: Record<Signal, Protocol>;
  /** Propagators in force; empty for `none`. */
  propagators: Propagator[];
  exporter: Record<Signal, 'otlp' | 'console' | 'none'>;
}

type Env = Record<string, string | undefined>;
const SIGNALS: readonly Signal[] = ['traces', 'metrics', 'logs'];
const PROTOCOLS: readonly string[] = ['http/protobuf', 'http/json'];
const PROPAGATORS: readonly string[] = ['tracecontext', 'baggage'];
const EXPORTERS: readonly string[] = ['otlp', 'console', 'none'];

const set = (v: string | undefined): string | undefined => (v === undefined || v.trim() === '' ? undefined : v.trim());

export function otelConfig(env: Env): Result<OtelConfig> {
  const protocol = {} as Record<Signal, Protocol>;
  const exporter = {} as Record<Signal, 'otlp' | 'console' | 'none'>;
  for (const s of SIGNALS) {
    const specific = `OTEL_EXPORTER_OTLP_${s.toUpperCase()}_PROTOCOL`;
    const name = set(env[specific]) !== undefined ? specific : 'OTEL_EXPORTER_OTLP_PROTOCOL';
    const v = set(env[name])?.toLowerCase() ?? 'http/protobuf';
    if (v === 'grpc') return err('E_OTEL_PROTOCOL', `${name}=grpc is not supported by this build (no OTLP/gRPC exporter): use http/protobuf (the default) or http/json, the collector's OTLP/HTTP port (4318)`, name);
    if (!PROTOCOLS.includes(v)) return err('E_OTEL_PROTOCOL', `${name}=${JSON.stringify(env[name])}: unknown protocol; one of ${PROTOCOLS.join(', ')}`, name);
    protocol[s] = v as Protocol;
    const ename = `OTEL_${s.toUpperCase()}_EXPORTER`;
    const endpoints = [env.OTEL_EXPORTER_OTLP_ENDPOINT, env[`OTEL_EXPORTER_OTLP_${s.toUpperCase()}_ENDPOINT`]];
    const e = set(env[ename])?.toLowerCase().split(',').map((x) => x.trim()).filter((x) => x !== '') ?? [endpoints.some((x) => set(x) !== undefined) ? 'otlp' : 'none'];
    const bad = e.find((x) => !EXPORTERS.includes(x));
    if (bad !== undefined) return err('E_OTEL_EXPORTER', `${ename}=${JSON.stringify(env[ename])}: unknown exporter ${JSON.stringify(bad)}; one of ${EXPORTERS.join(', ')}`, ename);
    if (e.length > 1) return err('E_OTEL_EXPORTER', `${ename}=${JSON.stringify(env[ename])}: one exporter only`, ename);
    exporter[s] = e[0] as 'otlp' | 'console' | 'none';
  }
  const raw = set(env.OTEL_PROPAGATORS)?.toLowerCase() ?? 'tracecontext,baggage';
  const names = [...new Set(raw.split(',').map((x) => x.trim()).filter((x) => x !== ''))];
  let propagators: Propagator[] = [];
  if (!(names.length === 1 && names[0] === 'none')) {
    const bad = names.find((x) => !PROPAGATORS.includes(x));
    if (bad !== undefined) return err('E_OTEL_PROPAGATORS', `OTEL_PROPAGATORS=${JSON.stringify(env.OTEL_PROPAGATORS)}: ${JSON.stringify(bad)} is not supported; use tracecontext, baggage, or none`, 'OTEL_PROPAGATORS');
    propagators = names as Propagator[];
  }
  return ok({ protocol, propagators, exporter });
}

/** The CLI's start-up check: null when the OTEL_* settings can be honoured (or the SDK is off). */
export function refusedOtelSetting(env: Env): string | null {
  if (set(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return null;
  const c = otelConfig(env);
  return c.ok ? null : c.error.message;
}
