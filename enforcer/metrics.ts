// The enforcer's Prometheus metrics (prom-client, through telemetry/prometheus.ts): kernel events
// reported and dropped, alerts by type, visibility logs emitted and dropped, attach and swap
// latency, pods by state and reason, rules loaded, map entries and fill ratio, whether the node
// enforces, the gRPC feed's watchers and drops, and the process/runtime metrics. Gauges (and the
// gRPC drop counts, kept by the feed) are read at scrape time from the callbacks given here.
import { MetricsRegistry, type Counter, type Histogram } from '../telemetry/prometheus.ts';

export interface EnforcerMetrics {
  registry: MetricsRegistry;
  /** Kernel decisions reported, by `action` (Audit|Block|Allow) and `result` (passed|denied). */
  events: Counter;
  /** Alerts the kernel dropped (rate limit, full ring buffer), as its "dropped" events count them. */
  dropped: Counter;
  /** Visibility logs emitted, by `operation` (Process|File|Network|Capabilities). */
  logs: Counter;
  /** Visibility logs the kernel dropped (rate limit, full ring buffer), as its "logs dropped"
   *  events count them. */
  logsDropped: Counter;
  /** Alerts emitted, by `type` (MatchedPolicy|SystemEvent) and `operation`. */
  alerts: Counter;
  /** Time to load (`op`=attach: the pod's first profile) or atomically replace (`op`=swap) one
   *  pod's profile in the kernel, seconds. */
  attachSeconds: Histogram;
}

export const NOT_ENFORCING_REASONS: readonly string[] = ['E_NO_KUBEPODS', 'E_UNAVAILABLE'];

/** One stream of the gRPC feed (enforcer/grpc/feed.ts's FeedStats). */
export interface FeedCounts { watchers: number; dropped: number }
/** The gRPC log server's streams (LogServer.stats()). */
export interface GrpcCounts { alerts: FeedCounts; logs: FeedCounts; messages: FeedCounts }
/** The rpc each stream is watched through: the label of the gRPC metrics. */
const RPC_OF: Record<keyof GrpcCounts, string> = { alerts: 'WatchAlerts', logs: 'WatchLogs', messages: 'WatchMessages' };

export interface MapCounts { pods: number; rules: number; cgroups: number }

/** Pods by state: `enforced`, `pending` (rules loaded, the node not enforcing yet: the reason is
 *  the node's) and `not_enforced` (the reason is the pod's problem code). */
export interface PodTally { state: 'enforced' | 'pending' | 'not_enforced'; reason: string; count: number }

export interface MetricsSources {
  /** Entries in the kernel maps (null: unknown, no kernel). */
  counts: () => MapCounts | null;
  /** The maps' capacities (max_entries), for the fill ratio. */
  capacity?: () => MapCounts | null;
  /** null when the node enforces, else the code of why not. */
  notEnforcing?: () => string | null;
  pods?: () => readonly PodTally[];
  /** The gRPC log server's counts (null or absent: no server, no samples). */
  grpc?: () => GrpcCounts | null;
  /** The process and Node.js runtime collectors (the daemon; tests may leave them out). */
  processMetrics?: boolean;
}

export function createMetrics(s: MetricsSources): EnforcerMetrics {
  const m = new MetricsRegistry({ processMetrics: s.processMetrics === true });
  const notEnforcing = s.notEnforcing;
  if (notEnforcing !== undefined) {
    m.gauge('armorgate_enforcer_enforcing', '1 when the node enforces, 0 when it does not (yet): armorgate_enforcer_not_enforcing says why.',
      () => (notEnforcing() === null ? 1 : 0));
    // one series per reason (1 for the current one, 0 for the others): a reason that stopped
    // holding reads 0 instead of vanishing
    const reasons = new Set(NOT_ENFORCING_REASONS);
    m.gauge('armorgate_enforcer_not_enforcing', 'Why the node does not enforce: 1 for the current reason (E_NO_KUBEPODS: no kubepods cgroup to attach to yet; E_UNAVAILABLE: the node cannot enforce), 0 for the others.', () => {
      const now = notEnforcing();
      if (now !== null) reasons.add(now);
      return [...reasons].map((r) => ({ labels: { reason: r }, value: r === now ? 1 : 0 }));
    }, ['reason']);
  }
  const pods = s.pods;
  if (pods !== undefined) {
    m.gauge('armorgate_enforcer_pods', 'Pods of this node by state (enforced; pending: rules loaded, the node not enforcing yet; not_enforced) and reason (an E_* code; empty when enforced).', () => {
      const t = pods();
      const out = t.map((x) => ({ labels: { state: x.state, reason: x.reason }, value: x.count }));
      if (!t.some((x) => x.state === 'enforced')) out.push({ labels: { state: 'enforced', reason: '' }, value: 0 });
      return out;
    }, ['state', 'reason']);
  }
  const maps = ['pods', 'rules', 'cgroups'] as const;
  m.gauge('armorgate_enforcer_map_entries', 'Entries in the enforcer\'s kernel maps, by map (cgroups: pod cgroups).', () => {
    const c = s.counts();
    return c === null ? null : maps.map((k) => ({ labels: { map: k }, value: c[k] }));
  }, ['map']);
  m.gauge('armorgate_enforcer_rules_loaded', 'Rules in the kernel\'s rule map (every pod, every generation in force).', () => s.counts()?.rules ?? null);
  const capacity = s.capacity;
  if (capacity !== undefined) {
    m.gauge('armorgate_enforcer_map_fill_ratio', 'Entries over capacity (max_entries) of the enforcer\'s kernel maps, 0 to 1, by map.', () => {
      const c = s.counts(), cap = capacity();
      if (c === null || cap === null) return null;
      return maps.filter((k) => cap[k] > 0).map((k) => ({ labels: { map: k }, value: c[k] / cap[k] }));
    }, ['map']);
  }
  const grpc = s.grpc;
  if (grpc !== undefined) {
    const per = (k: 'watchers' | 'dropped') => (): { labels: { rpc: string }; value: number }[] => {
      const g = grpc();
      return g === null ? [] : (Object.keys(RPC_OF) as (keyof GrpcCounts)[]).map((x) => ({ labels: { rpc: RPC_OF[x] }, value: g[x][k] }));
    };
    m.gauge('armorgate_enforcer_grpc_watchers', 'Clients watching the gRPC log service (KubeArmor\'s feeder.LogService), by rpc.', per('watchers'), ['rpc']);
    m.counterFrom('armorgate_enforcer_grpc_dropped_total', 'Records a gRPC watcher\'s full queue could not take (each watcher counted), by rpc.', per('dropped'), ['rpc']);
  }
  return {
    registry: m,
    events: m.counter('armorgate_enforcer_events_total', 'Kernel decisions reported as alerts, by action and result.', ['action', 'result']),
    dropped: m.counter('armorgate_enforcer_events_dropped_total', 'Alerts the kernel dropped before they reached userspace (per-cgroup rate limit, or no room in the ring buffer).'),
    logs: m.counter('armorgate_enforcer_logs_total', 'Visibility logs emitted, by operation.', ['operation']),
    logsDropped: m.counter('armorgate_enforcer_logs_dropped_total', 'Visibility logs the kernel dropped before they reached userspace (per-cgroup log rate limit, or no room in the ring buffer).'),
    alerts: m.counter('armorgate_enforcer_alerts_total', 'Alerts emitted, by type and operation.', ['type', 'operation']),
    attachSeconds: m.histogram('armorgate_enforcer_attach_duration_seconds', 'Time to load (op=attach) or atomically replace (op=swap) one pod\'s profile in the kernel.', ['op']),
  };
}
