// Where the gateway's policies and namespaces come from: a folder (standalone mode, reloaded
// on change) or ListWatch caches of @kubernetes/client-node (in a cluster). Both expose the
// same `PolicyStore` view; policies are validated by the core on the way in, and an invalid
// one is logged and left out (the validating webhook normally keeps them out already).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { CoreV1Api, CustomObjectsApi, KubeConfig, ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Namespace, Policy } from '../policy/types.ts';
import { parseDocuments } from '../policy/parse.ts';
import { isPolicyDocument, validatePolicy } from '../policy/validate.ts';

export interface PolicyStore {
  policies(): readonly Policy[];
  policiesVersion(): number;
  namespace(name: string): Namespace | null;
  namespaceCount(): number;
  /** Null once every cache has synced, else what is still missing. */
  notSynced(): string | null;
  close(): Promise<void>;
}

function policyId(p: { metadata?: { name?: string; namespace?: string } }): string {
  return p.metadata?.namespace ? `${p.metadata.namespace}/${p.metadata.name}` : String(p.metadata?.name);
}

function sortPolicies(list: Policy[]): Policy[] {
  return list.sort((a, b) => {
    const x = `${a.kind}\0${policyId(a)}`, y = `${b.kind}\0${policyId(b)}`;
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

// ---------------------------------------------------------------------------------------
// Folder

export interface FolderLoad { policies: Policy[]; namespaces: Map<string, Namespace>; problems: string[] }

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue; // also skips kubelet's ..data and ..TIMESTAMP entries
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (/\.(ya?ml|json)$/i.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Reads every .yaml/.yml/.json under `dir`: policies (validated) and Namespace objects. */
export function loadFolder(dir: string): FolderLoad {
  const policies: Policy[] = [];
  const namespaces = new Map<string, Namespace>();
  const problems: string[] = [];
  for (const file of listFiles(dir)) {
    let text: Buffer;
    try { text = fs.readFileSync(file); } catch (e) { problems.push(`${file}: ${e instanceof Error ? e.message : String(e)}`); continue; }
    for (const doc of parseDocuments(text)) {
      if (doc.error) { problems.push(`${file} document ${doc.index}: ${doc.error.message}`); continue; }
      const v = doc.value as { kind?: unknown; metadata?: { name?: unknown } } | null;
      if (v === null || typeof v !== 'object') continue;
      if (v.kind === 'Namespace') {
        if (typeof v.metadata?.name === 'string') namespaces.set(v.metadata.name, v as Namespace);
        else problems.push(`${file} document ${doc.index}: Namespace without metadata.name`);
        continue;
      }
      if (!isPolicyDocument(v)) continue;
      const { policy, problems: ps } = validatePolicy(v);
      if (policy === null) {
        problems.push(`${file} document ${doc.index}: invalid policy: ${ps.filter((p) => p.level === 'error').map((p) => `${p.path}: ${p.message}`).join('; ')}`);
        continue;
      }
      policies.push(policy);
    }
  }
  return { policies: sortPolicies(policies), namespaces, problems };
}

/** Standalone store: the folder, reloaded when it changes (watch, debounced, plus a poll). */
export function folderStore(dir: string, logger: Logger, onReload?: (ok: boolean) => void, pollMs = 5000): PolicyStore {
  let state: FolderLoad = { policies: [], namespaces: new Map(), problems: [] };
  let version = 0;
  let synced = false;
  let signature = '';
  const snapshotSignature = (): string => {
    try {
      return listFiles(dir).map((f) => { const s = fs.statSync(f); return `${f}:${s.size}:${s.mtimeMs}`; }).join('|');
    } catch (e) { return `error:${String(e)}`; }
  };
  const reload = (force: boolean): void => {
    const sig = snapshotSignature();
    if (!force && sig === signature) return;
    signature = sig;
    try {
      state = loadFolder(dir);
      version++;
      synced = true;
      for (const p of state.problems) logger.warn({ dir }, p);
      logger.info({ dir, policies: state.policies.length, namespaces: state.namespaces.size }, 'policies folder loaded');
      onReload?.(true);
    } catch (e) {
      logger.error({ dir, err: e }, 'policies folder could not be read; keeping the previous set');
      onReload?.(false);
    }
  };
  reload(true);
  let debounce: NodeJS.Timeout | undefined;
  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(dir, { recursive: true }, () => { clearTimeout(debounce); debounce = setTimeout(() => reload(false), 100); });
    watcher.on('error', () => { /* poll still runs */ });
  } catch { /* poll only */ }
  const poll = setInterval(() => reload(false), pollMs);
  poll.unref();
  return {
    policies: () => state.policies,
    policiesVersion: () => version,
    namespace: (name) => state.namespaces.get(name) ?? null,
    namespaceCount: () => state.namespaces.size,
    notSynced: () => (synced ? null : `policies folder ${dir} not loaded yet`),
    close: async () => { clearInterval(poll); clearTimeout(debounce); watcher?.close(); },
  };
}

// ---------------------------------------------------------------------------------------
// Cluster

const GROUP = 'security.kubearmor.com';
const VERSION = 'v1';
/** Policy kinds that can bind to pods (host policies bind to nodes, not pods). */
const POD_POLICY_PLURALS = ['kubearmorpolicies', 'kubearmorclusterpolicies'] as const;

interface Watched<T extends KubernetesObject> { name: string; lw: ListWatch<T>; synced: boolean }

/** Starts a ListWatch and keeps it running: the client's ListWatch relists by itself on 410
 *  Gone, but stops on other errors; those restart here with a capped backoff. */
function keepWatching<T extends KubernetesObject>(name: string, kc: KubeConfig, pathName: string, list: () => Promise<KubernetesListObject<T>>, logger: Logger, onChange: () => void, onRelist: () => void): Watched<T> {
  const w: Watched<T> = { name, lw: undefined as unknown as ListWatch<T>, synced: false };
  const listFn = async (): Promise<KubernetesListObject<T>> => {
    const l = await list();
    w.synced = true;
    onRelist();
    return l;
  };
  w.lw = new ListWatch<T>(pathName, new Watch(kc), listFn, false);
  let stopped = false;
  let delay = 500;
  w.lw.on('change', () => { delay = 500; onChange(); });
  w.lw.on('error', (e: unknown) => {
    if (stopped) return;
    logger.warn({ cache: name, err: e instanceof Error ? e.message : String(e) }, 'list/watch failed; restarting');
    const t = setTimeout(() => { if (!stopped) void w.lw.start(); }, delay);
    t.unref();
    delay = Math.min(delay * 2, 30_000);
  });
  void w.lw.start();
  const stop = w.lw.stop.bind(w.lw);
  w.lw.stop = async () => { stopped = true; await stop(); };
  return w;
}

export interface ClusterStoreOptions { kubeconfig?: string; logger: Logger; onRelist?: (cache: string) => void; kc?: KubeConfig }

/** In-cluster store: ListWatch caches of namespaces and of the pod-binding policy kinds. */
export function clusterStore(opts: ClusterStoreOptions): PolicyStore {
  const kc = opts.kc ?? new KubeConfig();
  if (opts.kc === undefined) {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromCluster();
  }
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  let version = 0;
  let derived: Policy[] | null = null;
  const rejected = new Set<string>();
  const changed = (): void => { version++; derived = null; };
  const watched: Watched<KubernetesObject>[] = [];
  const nsWatch = keepWatching<KubernetesObject>('namespaces', kc, '/api/v1/namespaces',
    () => core.listNamespace() as unknown as Promise<KubernetesListObject<KubernetesObject>>, opts.logger, changed, () => opts.onRelist?.('namespaces'));
  watched.push(nsWatch);
  for (const plural of POD_POLICY_PLURALS) {
    watched.push(keepWatching<KubernetesObject>(plural, kc, `/apis/${GROUP}/${VERSION}/${plural}`,
      () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }) as Promise<KubernetesListObject<KubernetesObject>>,
      opts.logger, changed, () => { changed(); opts.onRelist?.(plural); }));
  }
  const policies = (): Policy[] => {
    if (derived !== null) return derived;
    const out: Policy[] = [];
    for (const w of watched.slice(1)) {
      for (const obj of w.lw.list()) {
        const { policy, problems } = validatePolicy(obj);
        if (policy !== null) { out.push(policy); continue; }
        const id = `${obj.kind}/${policyId(obj)}@${obj.metadata?.resourceVersion}`;
        if (!rejected.has(id)) {
          rejected.add(id);
          opts.logger.warn({ policy: id, problems: problems.filter((p) => p.level === 'error') }, 'invalid policy in the cluster is ignored');
        }
      }
    }
    derived = sortPolicies(out);
    return derived;
  };
  return {
    policies,
    policiesVersion: () => version,
    namespace: (name) => (nsWatch.lw.get(name) as Namespace | undefined) ?? null,
    namespaceCount: () => nsWatch.lw.list().length,
    notSynced: () => {
      const missing = watched.filter((w) => !w.synced).map((w) => w.name);
      return missing.length === 0 ? null : `caches not synced: ${missing.join(', ')}`;
    },
    close: async () => { await Promise.all(watched.map((w) => w.lw.stop())); },
  };
}
