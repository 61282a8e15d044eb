// libbpf's own messages (object open and load, BTF, attach: "libbpf: ...") through the daemon's
// logger instead of raw on stderr: libbpf_set_print with a koffi callback that formats the
// message with libc's vsnprintf (va_list passed on as the pointer it decays to).
import koffi from 'koffi';
import { err, ok, type Result } from '../../policy/types.ts';

export type LibbpfLevel = 'warn' | 'info' | 'debug';
export interface LibbpfSink {
  enabled(level: LibbpfLevel): boolean;
  write(level: LibbpfLevel, message: string): void;
}

const LEVELS: readonly LibbpfLevel[] = ['warn', 'info', 'debug']; // LIBBPF_WARN, _INFO, _DEBUG
// kept referenced: libbpf calls it for as long as the process runs
let registered: unknown = null;
let current: LibbpfSink | null = null;

/** Routes libbpf's messages to `sink` (one line each, trailing newline dropped). Idempotent: a
 *  second call replaces the sink. */
export function routeLibbpfPrint(sink: LibbpfSink): Result<void> {
  current = sink;
  if (registered !== null) return ok(undefined);
  try {
    const so = koffi.load('libbpf.so.1');
    const libc = koffi.load('libc.so.6');
    const proto = koffi.proto('int ag_libbpf_print(int level, const char *fmt, void *args)');
    const setPrint = so.func('libbpf_set_print', 'void *', [koffi.pointer(proto)]) as (cb: unknown) => unknown;
    const vsnprintf = libc.func('vsnprintf', 'int', ['void *', 'size_t', 'const char *', 'void *']) as (buf: Buffer, n: number, fmt: string, ap: unknown) => number;
    const buf = Buffer.alloc(4096);
    registered = koffi.register((level: number, fmt: string, args: unknown): number => {
      const s = current;
      const l = LEVELS[level] ?? 'debug';
      if (s === null || !s.enabled(l)) return 0;
      try {
        const n = vsnprintf(buf, buf.length, fmt, args);
        if (n < 0) return 0;
        const text = buf.toString('utf8', 0, Math.min(n, buf.length - 1)).replace(/\n+$/, '');
        if (text !== '') s.write(l, text);
        return n;
      } catch {
        return 0;
      }
    }, koffi.pointer(proto));
    setPrint(registered);
    return ok(undefined);
  } catch (e) {
    return err('E_LIBBPF', `libbpf's messages stay on stderr: ${e instanceof Error ? e.message : String(e)}`);
  }
}
