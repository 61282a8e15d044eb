// The messages between the webhook's main thread (cluster-store.ts) and its list/watch
// worker (cluster-watch.worker.ts). Types and constants only: importing this loads nothing
// of @kubernetes/client-node.

/** The policy kinds that bind to pods, by plural (host policies bind to nodes, not pods). */
export const POLICY_CACHES = ['kubearmorpolicies', 'kubearmorclusterpolicies'] as const;
/** The caches the worker keeps: namespaces and the pod-binding policy kinds. */
export const CACHES = ['namespaces', ...POLICY_CACHES] as const;
/** The pod cache, kept only when the gateway reconciles running pods (lean copies: lean-pod.ts). */
export const POD_CACHE = 'pods';
/** Host policies bind nodes, not pods: kept only when the gateway reconciles, for their status
 *  (never part of the policy set admission compiles). */
export const HOST_POLICY_CACHE = 'kubearmorhostpolicies';
export type CacheName = (typeof CACHES)[number] | typeof POD_CACHE | typeof HOST_POLICY_CACHE;

/** Where the cluster is: a kubeconfig file, a kubeconfig's text, else in-cluster
 *  configuration; `pods`: also watch pods (lean copies) and host policies, and serve API calls. */
export interface WatchWorkerData { kubeconfigFile?: string; kubeconfigText?: string; pods?: boolean }

/** The writes the reconciler and the leader election make, carried out by the worker (the
 *  main thread never loads @kubernetes/client-node). Bodies are JSON values. */
export type ApiCall =
  | { op: 'patchPod'; namespace: string; name: string; body: unknown }
  | { op: 'patchPolicyStatus'; plural: string; namespace: string; name: string; body: unknown }
  | { op: 'readLease' | 'createLease' | 'replaceLease'; namespace: string; name: string; body?: unknown };
/** An API call's outcome: `code` is the HTTP status (0: no answer, e.g. connection refused). */
export interface ApiResult { ok: boolean; code: number; body?: unknown; message?: string }

/** The part of an object the main thread keys and reports it by. */
export interface WatchedObject { kind?: string; metadata?: { name?: string; namespace?: string; resourceVersion?: string } }

/** One change seen by a cache, in the order the cache saw it. `listed` follows the objects
 *  of a completed list (and the deletions of those no longer listed). */
export type WatchEvent =
  | { t: 'put'; cache: CacheName; obj: WatchedObject }
  | { t: 'del'; cache: CacheName; obj: WatchedObject }
  | { t: 'listed'; cache: CacheName }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; msg: string; fields: Record<string, unknown> };

/** Worker → main. `configured` or `fatal` comes first, once; then batches of events. */
export type WatchMessage = { t: 'configured' } | { t: 'fatal'; message: string } | { t: 'events'; events: WatchEvent[] } | { t: 'result'; id: number; result: ApiResult };
/** Main → worker. */
export type WatchCommand = { t: 'stop' } | { t: 'call'; id: number; call: ApiCall };
