// The messages between the webhook's main thread (cluster-store.ts) and its list/watch
// worker (cluster-watch.worker.ts). Types and constants only: importing this loads nothing
// of @kubernetes/client-node.

/** The policy kinds that bind to pods, by plural (host policies bind to nodes, not pods). */
export const POLICY_CACHES = ['kubearmorpolicies', 'kubearmorclusterpolicies'] as const;
/** The caches the worker keeps: namespaces and the pod-binding policy kinds. */
export const CACHES = ['namespaces', ...POLICY_CACHES] as const;
export type CacheName = (typeof CACHES)[number];

/** Where the cluster is: a kubeconfig file, a kubeconfig's text, else in-cluster configuration. */
export interface WatchWorkerData { kubeconfigFile?: string; kubeconfigText?: string }

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
export type WatchMessage = { t: 'configured' } | { t: 'fatal'; message: string } | { t: 'events'; events: WatchEvent[] };
/** Main → worker. */
export type WatchCommand = { t: 'stop' };
