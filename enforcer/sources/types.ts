// What every pod source feeds: the reconciler's three entry points. After the source, one code path.
import type { Pod } from '../../policy/types.ts';

export interface PodSink {
  /** The complete set of pods on this node (a list, a folder reload): anything not in it is gone. */
  sync(pods: readonly Pod[]): void;
  /** One pod added or changed. */
  upsert(pod: Pod): void;
  /** One pod deleted. */
  remove(pod: Pod): void;
}

export interface PodSource {
  /** Starts feeding `sink`; resolves once the first complete set has been delivered. */
  start(sink: PodSink): Promise<void>;
  /** Stops watching; resolves when nothing more will be delivered. */
  stop(): Promise<void>;
}

/** A pod belongs to this node when it names it (pods of a folder may name none: they are local). */
export function onNode(pod: Pod, nodeName: string): boolean {
  const n = pod.spec?.nodeName;
  return n === undefined || n === '' || n === nodeName;
}
