// The wire between the guest's runner and the host's harness, shared by both sides.
//
// The host writes a Job (JSON) into a folder of the project (the guest sees the host's root
// read-only, at the same path). The guest writes Messages, one per line, to its second serial
// port (ttyS1), which qemu copies to a host file: no kernel message or process output ever
// lands on that port, so marker lines never interleave with anything. Each line is
//   @@AG <seq> <base64(JSON)>
// with seq counting from 0, so that the host can tell a lost or garbled line from the end.

export type AttachMode = 'cgroup' | 'global';
export type KernelSeries = '6.12' | '6.1';

export interface Job {
  /** Project root, as a path in the host's (and so the guest's) file tree. */
  root: string;
  /** Suite modules, paths relative to root. */
  suites: string[];
  attachMode: AttachMode;
  kernelSeries: KernelSeries;
  /** Extra environment for the runner and everything it starts. */
  env: Record<string, string>;
  /** The unpacked kernel tree (holds lib/modules/<release>), so the guest can modprobe. */
  kernelTree: string;
  /** Default per-scenario timeout. */
  scenarioTimeoutMs: number;
  /** Only scenarios whose name contains one of these run (all when empty). */
  only: string[];
}

export type Message =
  | { t: 'hello'; kernel: string; uptimeMs: number; node: string }
  | { t: 'plan'; scenarios: { name: string; suite: string }[] }
  | { t: 'start'; name: string; suite: string }
  | { t: 'result'; name: string; suite: string; ok: boolean; error?: string; output: string; ms: number }
  | { t: 'event'; name: string; data: unknown }
  | { t: 'done'; failed: number; total: number };

export const MARKER = '@@AG';

export function encodeMessage(seq: number, m: Message): string {
  return `${MARKER} ${seq} ${Buffer.from(JSON.stringify(m), 'utf8').toString('base64')}\n`;
}

export interface DecodedStream {
  messages: Message[];
  /** Problems seen in the stream: gaps in seq, undecodable lines. */
  problems: string[];
}

/** Decodes every marker line of `text` (other lines are ignored; \r tolerated). */
export function decodeStream(text: string): DecodedStream {
  const messages: Message[] = [];
  const problems: string[] = [];
  let expected = 0;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const at = line.indexOf(MARKER + ' ');
    if (at < 0) continue;
    const parts = line.slice(at + MARKER.length + 1).split(' ');
    const seq = Number(parts[0]);
    if (parts.length !== 2 || !Number.isInteger(seq)) {
      problems.push(`garbled marker line: ${line.slice(0, 120)}`);
      continue;
    }
    try {
      const m = JSON.parse(Buffer.from(parts[1] ?? '', 'base64').toString('utf8')) as Message;
      if (seq !== expected) problems.push(`marker ${expected}${seq > expected + 1 ? `..${seq - 1}` : ''} missing (got ${seq})`);
      expected = seq + 1;
      messages.push(m);
    } catch (e) {
      problems.push(`undecodable marker ${seq}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { messages, problems };
}
