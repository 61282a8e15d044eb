// Where the gateway's policies and namespaces come from: a folder (standalone mode, reloaded
// on change, here) or ListWatch caches of @kubernetes/client-node (in a cluster:
// cluster-store.ts). Both expose the same `PolicyStore` view; policies are validated by the
// core on the way in, and an invalid one is logged and left out (the validating webhook
// normally keeps them out already).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Namespace, Policy } from '../policy/types.ts';
import { parseDocuments } from '../policy/parse.ts';
import { isPolicyDocument, validatePolicy } from '../policy/validate.ts';
import type { RecentView } from './decide.ts';
import { RecentStates } from './recent-states.ts';

export interface PolicyStore {
  policies(): readonly Policy[];
  policiesVersion(): number;
  namespace(name: string): Namespace | null;
  /** The policy sets and namespace objects replaced within the last seconds (recent-states.ts). */
  recent?: RecentView;
  namespaceCount(): number;
  /** Null once every cache has synced, else what is still missing. */
  notSynced(): string | null;
  close(): Promise<void>;
}

export function policyId(p: { metadata?: { name?: string; namespace?: string } }): string {
  return p.metadata?.namespace ? `${p.metadata.namespace}/${p.metadata.name}` : String(p.metadata?.name);
}

export function sortPolicies(list: Policy[]): Policy[] {
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
  const recent = new RecentStates();
  const reload = (force: boolean): void => {
    const sig = snapshotSignature();
    if (!force && sig === signature) return;
    signature = sig;
    try {
      const before = state;
      state = loadFolder(dir);
      if (synced) remember(before, state);
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
  /** What admission compiled from until this reload (recent-states.ts). */
  const remember = (before: FolderLoad, after: FolderLoad): void => {
    recent.replacedPolicies(version, before.policies);
    for (const [name, ns] of before.namespaces) if (JSON.stringify(ns) !== JSON.stringify(after.namespaces.get(name))) recent.replacedNamespace(name, ns);
    for (const name of after.namespaces.keys()) if (!before.namespaces.has(name)) recent.replacedNamespace(name, null);
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
    recent,
    notSynced: () => (synced ? null : `policies folder ${dir} not loaded yet`),
    close: async () => { clearInterval(poll); clearTimeout(debounce); watcher?.close(); },
  };
}
