// Standalone pod source: a folder of annotated pod manifests (YAML or JSON, one or more documents
// per file, as `armorgate profile --output pod` writes them), reloaded whenever the folder changes.
// Every reload delivers the complete set, so a deleted file is a deleted pod.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ANN_PROFILE_SIGNATURE } from '../../policy/annotations.ts';
import type { Pod } from '../../policy/types.ts';
import type { Log } from '../reconciler.ts';
import { onNode, type PodSink, type PodSource } from './types.ts';

export interface DirSourceOptions {
  dir: string;
  nodeName: string;
  log: Log;
  /** Coalesces bursts of change notifications (ms, default 50). */
  debounceMs?: number;
  /** Safety poll for file systems without change notifications (ms, default 2000; 0: none). */
  pollMs?: number;
}

const MANIFEST = /\.(ya?ml|json)$/i;

/** A manifest's document that is skipped, or (in `notes`) delivered but unenforceable, with why. */
export interface DirProblem { file: string; message: string; pod?: string }

export interface DirLoad {
  pods: Pod[];
  /** Documents skipped: unreadable, unparseable, not a pod, no UID, a duplicate, another node's. */
  problems: DirProblem[];
  /** Pods delivered that cannot be enforced as written (unsigned): the reconciler reports them. */
  notes: DirProblem[];
}

/** What one manifest file holds (pods and problems), cached by size and modification time so that a
 *  reload re-reads only the files that changed. */
interface FileEntry { stamp: string; pods: Pod[]; problems: DirProblem[] }
export type DirCache = Map<string, FileEntry>;

function parseFile(file: string, text: string): Omit<FileEntry, 'stamp'> {
  const out: Omit<FileEntry, 'stamp'> = { pods: [], problems: [] };
  let values: unknown[];
  if (/\.json$/i.test(file)) {
    // JSON: the fast path (`armorgate profile --output pod` writes JSON)
    try {
      values = [JSON.parse(text) as unknown];
    } catch (e) {
      out.problems.push({ file, message: `document 1: ${e instanceof Error ? e.message : String(e)}` });
      return out;
    }
  } else {
    values = [];
    const docs = parseAllDocuments(text);
    const list = Array.isArray(docs) ? docs : [docs];
    for (const [i, doc] of list.entries()) {
      if (doc.errors.length > 0) {
        out.problems.push({ file, message: `document ${i + 1}: ${doc.errors[0]?.message ?? 'YAML error'}` });
        values.push(null);
      } else {
        values.push(doc.toJS() as unknown);
      }
    }
  }
  values.forEach((v, i) => {
    if (v === null || v === undefined) return;
    const items = isList(v) ? v.items : [v];
    for (const item of items) {
      if (!isPod(item)) {
        out.problems.push({ file, message: `document ${i + 1}: not a Pod (kind ${String((item as { kind?: unknown } | null)?.kind)})` });
        continue;
      }
      const uid = item.metadata?.uid;
      if (typeof uid !== 'string' || uid === '') {
        out.problems.push({ file, message: `document ${i + 1}: pod ${item.metadata?.name ?? '?'} has no metadata.uid (kubelet names its cgroup by UID)` });
        continue;
      }
      out.pods.push(item);
    }
  });
  return out;
}

/** Reads every manifest of the folder; unreadable files and non-pod documents are reported, not fatal.
 *  With a cache, files whose size and modification time did not change are not read again. */
export async function loadPodsDir(dir: string, nodeName: string, cache: DirCache = new Map()): Promise<DirLoad> {
  const out: DirLoad = { pods: [], problems: [], notes: [] };
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => MANIFEST.test(n) && !n.startsWith('.')).sort();
  } catch (e) {
    out.problems.push({ file: dir, message: e instanceof Error ? e.message : String(e) });
    return out;
  }
  const seen = new Set<string>();
  const present = new Set<string>();
  for (const name of names) {
    const file = join(dir, name);
    present.add(file);
    let entry: FileEntry;
    try {
      const st = await stat(file);
      const stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
      const cached = cache.get(file);
      if (cached !== undefined && cached.stamp === stamp) {
        entry = cached;
      } else {
        entry = { stamp, ...parseFile(file, await readFile(file, 'utf8')) };
        cache.set(file, entry);
      }
    } catch (e) {
      // removed between readdir and read: the next reload sees it gone
      out.problems.push({ file, message: e instanceof Error ? e.message : String(e) });
      continue;
    }
    out.problems.push(...entry.problems);
    for (const pod of entry.pods) {
      const uid = pod.metadata?.uid as string;
      if (seen.has(uid)) {
        out.problems.push({ file, message: `pod UID ${uid} appears twice; the first one wins` });
        continue;
      }
      const name = `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? '?'}`;
      if (!onNode(pod, nodeName)) {
        out.problems.push({ file, pod: name, message: `pod ${name} is for node ${JSON.stringify(pod.spec?.nodeName)}, this is node ${JSON.stringify(nodeName)}` });
        continue;
      }
      if (pod.metadata?.annotations?.[ANN_PROFILE_SIGNATURE] === undefined) {
        out.notes.push({ file, pod: name, message: `pod ${name} has no ${ANN_PROFILE_SIGNATURE} annotation: it is reported as not enforced` });
      }
      seen.add(uid);
      out.pods.push(pod);
    }
  }
  for (const file of [...cache.keys()]) if (!present.has(file)) cache.delete(file);
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'List' && Array.isArray((v as { items?: unknown }).items);
}

function isPod(v: unknown): v is Pod {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'Pod';
}

export class DirPodSource implements PodSource {
  readonly #o: DirSourceOptions;
  #watcher: FSWatcher | null = null;
  #timer: NodeJS.Timeout | null = null;
  #poll: NodeJS.Timeout | null = null;
  #running: Promise<void> = Promise.resolve();
  #again = false;
  #busy = false;
  #stamp = '';
  #stopped = false;
  readonly #cache: DirCache = new Map();
  /** Problems already logged, so an unchanged bad file is not logged at every reload. */
  #logged = new Set<string>();

  constructor(o: DirSourceOptions) {
    this.#o = o;
  }

  async start(sink: PodSink): Promise<void> {
    try {
      this.#watcher = watch(this.#o.dir, { persistent: false }, () => this.#schedule(sink));
      this.#watcher.on('error', (e) => this.#o.log.warn({ dir: this.#o.dir, error: e.message }, 'pods folder watch failed; polling only'));
    } catch (e) {
      this.#o.log.warn({ dir: this.#o.dir, error: e instanceof Error ? e.message : String(e) }, 'cannot watch the pods folder; polling only');
    }
    const pollMs = this.#o.pollMs ?? 2000;
    if (pollMs > 0) {
      this.#poll = setInterval(() => {
        void this.#fingerprint().then((s) => { if (s !== this.#stamp) this.#schedule(sink); });
      }, pollMs);
      this.#poll.unref();
    }
    await this.#reload(sink);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    if (this.#timer !== null) clearTimeout(this.#timer);
    if (this.#poll !== null) clearInterval(this.#poll);
    await this.#running;
  }

  #schedule(sink: PodSink): void {
    if (this.#stopped) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (this.#busy) { this.#again = true; return; }
      this.#running = this.#reload(sink);
    }, this.#o.debounceMs ?? 50);
  }

  /** Names, sizes and modification times: what changes when a manifest is written or removed. */
  async #fingerprint(): Promise<string> {
    try {
      const names = (await readdir(this.#o.dir)).filter((n) => MANIFEST.test(n)).sort();
      const parts = await Promise.all(names.map(async (n) => {
        const st = await stat(join(this.#o.dir, n)).catch(() => null);
        return st === null ? n : `${n}:${st.size}:${st.mtimeMs}`;
      }));
      return parts.join('|');
    } catch {
      return '';
    }
  }

  async #reload(sink: PodSink): Promise<void> {
    this.#busy = true;
    try {
      do {
        this.#again = false;
        this.#stamp = await this.#fingerprint();
        const { pods, problems, notes } = await loadPodsDir(this.#o.dir, this.#o.nodeName, this.#cache);
        const now = new Set([...problems, ...notes].map((p) => `${p.file}\0${p.message}`));
        for (const p of problems) if (!this.#logged.has(`${p.file}\0${p.message}`)) this.#o.log.warn(p, 'pod manifest skipped');
        for (const p of notes) if (!this.#logged.has(`${p.file}\0${p.message}`)) this.#o.log.warn(p, 'pod manifest unsigned');
        this.#logged = now;
        if (this.#stopped) return;
        this.#o.log.debug({ dir: this.#o.dir, pods: pods.length }, 'pods folder loaded');
        sink.sync(pods);
      } while (this.#again && !this.#stopped);
    } finally {
      this.#busy = false;
    }
  }
}
