// Standalone pod source: a folder of annotated pod manifests (YAML or JSON, one or more documents
// per file, as `armorgate profile --output pod` writes them), reloaded whenever the folder changes.
// Every reload delivers the complete set, so a deleted file is a deleted pod.
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
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

export interface DirLoad {
  pods: Pod[];
  problems: { file: string; message: string }[];
}

/** Reads every manifest of the folder; unreadable files and non-pod documents are reported, not fatal. */
export async function loadPodsDir(dir: string, nodeName: string): Promise<DirLoad> {
  const out: DirLoad = { pods: [], problems: [] };
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => MANIFEST.test(n) && !n.startsWith('.')).sort();
  } catch (e) {
    out.problems.push({ file: dir, message: e instanceof Error ? e.message : String(e) });
    return out;
  }
  const seen = new Set<string>();
  for (const name of names) {
    const file = join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      // removed between readdir and read: the next reload sees it gone
      out.problems.push({ file, message: e instanceof Error ? e.message : String(e) });
      continue;
    }
    const docs = parseAllDocuments(text);
    const list = Array.isArray(docs) ? docs : [docs];
    list.forEach((doc, i) => {
      if (doc.errors.length > 0) {
        out.problems.push({ file, message: `document ${i + 1}: ${doc.errors[0]?.message ?? 'YAML error'}` });
        return;
      }
      const v = doc.toJS() as unknown;
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
        if (seen.has(uid)) {
          out.problems.push({ file, message: `document ${i + 1}: pod UID ${uid} appears twice; the first one wins` });
          continue;
        }
        if (!onNode(item, nodeName)) continue;
        seen.add(uid);
        out.pods.push(item);
      }
    });
  }
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
        const { pods, problems } = await loadPodsDir(this.#o.dir, this.#o.nodeName);
        for (const p of problems) this.#o.log.warn(p, 'pod manifest skipped');
        if (this.#stopped) return;
        this.#o.log.debug({ dir: this.#o.dir, pods: pods.length }, 'pods folder loaded');
        sink.sync(pods);
      } while (this.#again && !this.#stopped);
    } finally {
      this.#busy = false;
    }
  }
}
