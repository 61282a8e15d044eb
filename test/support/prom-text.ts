// A small parser of the Prometheus text exposition format (0.0.4), for tests that scrape
// /metrics: the TYPE of each family and every sample with its labels and value.
export interface Sample { name: string; labels: Record<string, string>; value: number }
export interface Scrape { types: Map<string, string>; help: Map<string, string>; samples: Sample[] }

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/g;

export function parsePrometheus(text: string): Scrape {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('# TYPE ')) { const [n, t] = line.slice(7).split(' '); types.set(n!, t!); continue; }
    if (line.startsWith('# HELP ')) { const i = line.indexOf(' ', 7); help.set(line.slice(7, i), line.slice(i + 1)); continue; }
    if (line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const v = m[3]!;
    samples.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return { types, help, samples };
}

/** The value of the one sample named `name` whose labels include `labels` (undefined: none). */
export function sampleValue(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = s.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return hit?.value;
}
