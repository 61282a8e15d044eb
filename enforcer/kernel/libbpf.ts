// libbpf.so.1 through koffi: the few libbpf calls the loader needs, each returning a
// Result whose error carries the errno and libbpf's message. Nothing here throws past
// the module: koffi's own failures (library missing) become values too.
import koffi from 'koffi';
import { err, ok, type AgError, type Result } from '../../policy/types.ts';

export type Ptr = unknown; // opaque pointer returned by koffi (non-null)

export interface BpfError extends AgError {
  errno: number;
}

interface Lib {
  bpf_object__open_file: (path: string, opts: null) => Ptr | null;
  bpf_object__load: (obj: Ptr) => number;
  bpf_object__close: (obj: Ptr) => void;
  bpf_object__next_program: (obj: Ptr, prev: Ptr | null) => Ptr | null;
  bpf_object__next_map: (obj: Ptr, prev: Ptr | null) => Ptr | null;
  bpf_program__name: (p: Ptr) => string;
  bpf_program__section_name: (p: Ptr) => string;
  bpf_program__set_autoload: (p: Ptr, on: boolean) => number;
  bpf_program__fd: (p: Ptr) => number;
  bpf_program__set_log_buf: (p: Ptr, buf: Buffer, size: number) => number;
  bpf_program__attach: (p: Ptr) => Ptr | null;
  bpf_program__attach_cgroup: (p: Ptr, fd: number) => Ptr | null;
  bpf_program__attach_lsm: (p: Ptr) => Ptr | null;
  bpf_link__pin: (l: Ptr, path: string) => number;
  bpf_link__unpin: (l: Ptr) => number;
  bpf_link__open: (path: string) => Ptr | null;
  bpf_link__disconnect: (l: Ptr) => void;
  bpf_link__destroy: (l: Ptr) => number;
  bpf_map__name: (m: Ptr) => string;
  bpf_map__fd: (m: Ptr) => number;
  bpf_map__set_pin_path: (m: Ptr, path: string) => number;
  bpf_map__key_size: (m: Ptr) => number;
  bpf_map__value_size: (m: Ptr) => number;
  bpf_map__max_entries: (m: Ptr) => number;
  bpf_map__type: (m: Ptr) => number;
  bpf_map__map_flags: (m: Ptr) => number;
  bpf_obj_get: (path: string) => number;
  bpf_obj_get_info_by_fd: (fd: number, info: Buffer, len: Uint32Array) => number;
  bpf_obj_pin: (fd: number, path: string) => number;
  bpf_link_create: (progFd: number, targetFd: number, attachType: number, opts: null) => number;
  bpf_map_update_elem: (fd: number, key: Buffer, value: Buffer, flags: bigint) => number;
  bpf_map_lookup_elem: (fd: number, key: Buffer, value: Buffer) => number;
  bpf_map_delete_elem: (fd: number, key: Buffer) => number;
  bpf_map_get_next_key: (fd: number, key: Buffer | null, next: Buffer) => number;
  bpf_map_update_batch: (fd: number, keys: Buffer, values: Buffer, count: Uint32Array, opts: Buffer) => number;
  bpf_map_delete_batch: (fd: number, keys: Buffer, count: Uint32Array, opts: Buffer) => number;
  ring_buffer__new: (fd: number, cb: unknown, ctx: null, opts: null) => Ptr | null;
  ring_buffer__consume: (rb: Ptr) => number;
  ring_buffer__free: (rb: Ptr) => void;
  libbpf_strerror: (e: number, buf: Buffer, size: number) => number;
  btf__load_vmlinux_btf: () => Ptr | null;
  btf__find_by_name_kind: (btf: Ptr, name: string, kind: number) => number;
  btf__free: (btf: Ptr) => void;
  close: (fd: number) => number;
  open: (path: string, flags: number) => number;
  memcpy: (dst: Buffer, src: unknown, n: number) => unknown;
}

let lib: Lib | null = null;
let loadError: string | null = null;
let sampleProto: ReturnType<typeof koffi.proto> | null = null;

function bind(): Lib | null {
  if (lib || loadError) return lib;
  try {
    const so = koffi.load('libbpf.so.1');
    const libc = koffi.load('libc.so.6');
    koffi.opaque('bpf_object');
    const P = 'void *';
    sampleProto = koffi.proto('int ag_rb_sample(void *ctx, void *data, size_t size)');
    const f = (name: string, ret: string, args: unknown[]) => so.func(name, ret, args as string[]);
    lib = {
      bpf_object__open_file: f('bpf_object__open_file', P, ['const char *', P]),
      bpf_object__load: f('bpf_object__load', 'int', [P]),
      bpf_object__close: f('bpf_object__close', 'void', [P]),
      bpf_object__next_program: f('bpf_object__next_program', P, [P, P]),
      bpf_object__next_map: f('bpf_object__next_map', P, [P, P]),
      bpf_program__name: f('bpf_program__name', 'const char *', [P]),
      bpf_program__section_name: f('bpf_program__section_name', 'const char *', [P]),
      bpf_program__set_autoload: f('bpf_program__set_autoload', 'int', [P, 'bool']),
      bpf_program__fd: f('bpf_program__fd', 'int', [P]),
      bpf_program__set_log_buf: f('bpf_program__set_log_buf', 'int', [P, P, 'size_t']),
      bpf_program__attach: f('bpf_program__attach', P, [P]),
      bpf_program__attach_cgroup: f('bpf_program__attach_cgroup', P, [P, 'int']),
      bpf_program__attach_lsm: f('bpf_program__attach_lsm', P, [P]),
      bpf_link__pin: f('bpf_link__pin', 'int', [P, 'const char *']),
      bpf_link__unpin: f('bpf_link__unpin', 'int', [P]),
      bpf_link__open: f('bpf_link__open', P, ['const char *']),
      bpf_link__disconnect: f('bpf_link__disconnect', 'void', [P]),
      bpf_link__destroy: f('bpf_link__destroy', 'int', [P]),
      bpf_map__name: f('bpf_map__name', 'const char *', [P]),
      bpf_map__fd: f('bpf_map__fd', 'int', [P]),
      bpf_map__set_pin_path: f('bpf_map__set_pin_path', 'int', [P, 'const char *']),
      bpf_map__key_size: f('bpf_map__key_size', 'uint32_t', [P]),
      bpf_map__value_size: f('bpf_map__value_size', 'uint32_t', [P]),
      bpf_map__max_entries: f('bpf_map__max_entries', 'uint32_t', [P]),
      bpf_map__type: f('bpf_map__type', 'int', [P]),
      bpf_map__map_flags: f('bpf_map__map_flags', 'uint32_t', [P]),
      bpf_obj_get: f('bpf_obj_get', 'int', ['const char *']),
      bpf_obj_get_info_by_fd: f('bpf_obj_get_info_by_fd', 'int', ['int', P, 'uint32_t *']),
      bpf_obj_pin: f('bpf_obj_pin', 'int', ['int', 'const char *']),
      bpf_link_create: f('bpf_link_create', 'int', ['int', 'int', 'int', P]),
      bpf_map_update_elem: f('bpf_map_update_elem', 'int', ['int', P, P, 'uint64_t']),
      bpf_map_lookup_elem: f('bpf_map_lookup_elem', 'int', ['int', P, P]),
      bpf_map_delete_elem: f('bpf_map_delete_elem', 'int', ['int', P]),
      bpf_map_get_next_key: f('bpf_map_get_next_key', 'int', ['int', P, P]),
      bpf_map_update_batch: f('bpf_map_update_batch', 'int', ['int', P, P, 'uint32_t *', P]),
      bpf_map_delete_batch: f('bpf_map_delete_batch', 'int', ['int', P, 'uint32_t *', P]),
      ring_buffer__new: f('ring_buffer__new', P, ['int', koffi.pointer(sampleProto!), P, P]),
      ring_buffer__consume: f('ring_buffer__consume', 'int', [P]),
      ring_buffer__free: f('ring_buffer__free', 'void', [P]),
      libbpf_strerror: f('libbpf_strerror', 'int', ['int', P, 'size_t']),
      btf__load_vmlinux_btf: f('btf__load_vmlinux_btf', P, []),
      btf__find_by_name_kind: f('btf__find_by_name_kind', 'int', [P, 'const char *', 'uint32_t']),
      btf__free: f('btf__free', 'void', [P]),
      close: libc.func('close', 'int', ['int']),
      open: libc.func('open', 'int', ['const char *', 'int']),
      memcpy: libc.func('memcpy', P, [P, P, 'size_t']),
    } as unknown as Lib;
    return lib;
  } catch (e) {
    loadError = e instanceof Error ? e.message : String(e);
    return null;
  }
}

/** The bound library, or an error value when libbpf.so.1 cannot be loaded. */
export function libbpf(): Result<Lib, BpfError> {
  const l = bind();
  if (!l) return { ok: false, error: { code: 'E_LIBBPF', errno: 0, message: `libbpf.so.1 cannot be loaded: ${loadError}` } };
  return ok(l);
}

export function strerror(e: number): string {
  const l = bind();
  if (!l) return `errno ${e}`;
  const buf = Buffer.alloc(256);
  l.libbpf_strerror(e, buf, buf.length);
  const s = buf.toString('utf8', 0, Math.max(0, buf.indexOf(0)));
  return s || `errno ${e}`;
}

export function bpfErr(what: string, e: number, path?: string): { ok: false; error: BpfError } {
  const n = Math.abs(e);
  const r = err('E_BPF', `${what}: ${strerror(n)} (errno ${n})`, path);
  return { ok: false, error: { ...r.error, errno: n } };
}

const BTF_KIND_FUNC = 12;

/** Whether the running kernel's BTF has a function of this name (a kfunc a program may call);
 *  an error value when the BTF cannot be read. */
export function kernelHasFunc(name: string): Result<boolean, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const l = lr.value;
  const btf = l.btf__load_vmlinux_btf();
  if (btf === null || btf === undefined) return bpfErr('btf__load_vmlinux_btf', lastErrno() || 2);
  try {
    return ok(l.btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0);
  } finally {
    l.btf__free(btf);
  }
}

/** errno of the last call (libbpf 1.x pointer APIs return NULL and set errno). */
export function lastErrno(): number {
  return koffi.errno();
}

/** Checks an int return (0 or positive ok, negative -errno). */
export function check(what: string, rc: number, path?: string): Result<number, BpfError> {
  if (rc < 0) return bpfErr(what, rc, path);
  return ok(rc);
}

/** Checks a pointer return. */
export function checkPtr(what: string, p: Ptr | null, path?: string): Result<Ptr, BpfError> {
  if (p === null || p === undefined) return bpfErr(what, lastErrno() || 22, path);
  return ok(p);
}

/** Gets each record: a view that stays valid until the next `consume()` (copy what must outlive it). */
export type SampleCallback = (data: Buffer) => void;

/** Bytes of one slot of the consumer's arena: a record up to this size is copied there. */
export const RING_SLOT = 2048;
/** Slots of the arena at most (a consume of more records gives the rest copies of their own). */
const MAX_SLOTS = 1024;

/** What the sample callback returns to stop a consume at its bound (EAGAIN, negated by libbpf's
 *  convention; libbpf passes it back unchanged). */
const EAGAIN_STOP = 11;

/** A consumer of the events ring buffer: `consume(max)` takes at most `max` records and says
 *  whether it stopped at that bound with more waiting. */
export interface RingConsumer {
  consume(max: number): { more: boolean };
  free(): void;
}

/** A ring buffer consumer whose callback gets each record as a view of a copy that stays valid
 *  until the next `consume()`: one arena of `max` slots of 2 KiB, reused by every consume, each
 *  record copied into its slot with libc's memcpy (0.08 µs for a 1,624-byte record on this host,
 *  against 1.70 µs for koffi.decode into a new array: `npm run bench:log-path`). A record
 *  larger than a slot, or past the slots, gets a copy of its own. libbpf's consume loops for as
 *  long as the producer keeps ahead of it (it re-reads the producer position after each pass),
 *  so an unbounded consume under a flood of events never returns to the event loop: the callback
 *  stops it at the bound instead (a negative return; the record it was given is kept). */
export function ringBufferNew(mapFd: number, cb: SampleCallback): Result<{ rb: Ptr } & RingConsumer, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const l = lr.value;
  let budget = 0;
  let taken = 0;
  let arena = Buffer.alloc(0);
  const handler = (_ctx: unknown, data: unknown, size: number | bigint): number => {
    const n = Number(size);
    const at = taken * RING_SLOT;
    taken++;
    try {
      let record: Buffer;
      if (n <= RING_SLOT && at + RING_SLOT <= arena.length) {
        record = arena.subarray(at, at + n);
        l.memcpy(record, data, n);
      } else {
        // A copy of its own, never koffi.view(): records reuse ring addresses, and V8 aborts the
        // process (a fatal CHECK in its backing-store registry) when a second external
        // ArrayBuffer is made over an address whose earlier one has not been collected yet.
        const bytes = koffi.decode(data, 'uint8_t', n) as Uint8Array;
        record = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
      cb(record);
    } catch {
      // a consumer error never reaches libbpf
    }
    return taken >= budget ? -EAGAIN_STOP : 0;
  };
  const registered = koffi.register(handler, koffi.pointer(sampleProto!));
  const rb = l.ring_buffer__new(mapFd, registered, null, null);
  if (rb === null) {
    const e = lastErrno();
    koffi.unregister(registered);
    return bpfErr('ring_buffer__new', e || 22);
  }
  let freed = false;
  return ok({
    rb,
    consume: (max: number) => {
      if (freed) return { more: false };
      budget = Math.max(1, max);
      taken = 0;
      const want = Math.min(budget, MAX_SLOTS) * RING_SLOT;
      if (arena.length < want) arena = Buffer.alloc(want);
      const r = l.ring_buffer__consume(rb);
      // stopped by the bound: -EAGAIN_STOP (any other negative is libbpf's own error)
      return { more: r === -EAGAIN_STOP };
    },
    free: () => {
      if (freed) return;
      freed = true;
      l.ring_buffer__free(rb);
      koffi.unregister(registered);
    },
  });
}

/** Batch options struct (struct bpf_map_batch_opts: sz, elem_flags, flags). */
/** The keys of a map, through get_next_key (at most `limit`). */
export function mapKeys(fd: number, keySize: number, limit = Infinity): Buffer[] {
  const lr = libbpf();
  if (!lr.ok) return [];
  const out: Buffer[] = [];
  let prev: Buffer | null = null;
  while (out.length < limit) {
    const next = Buffer.alloc(keySize);
    if (lr.value.bpf_map_get_next_key(fd, prev, next) !== 0) break;
    out.push(next);
    prev = next;
  }
  return out;
}

/** A pinned map opened by path, with its definition (struct bpf_map_info: type at 0, key size
 *  at 8, value size at 12, max entries at 16, flags at 20); null when it cannot be opened or
 *  read. The caller closes `fd`. */
export function openPinnedMap(path: string): { fd: number; def: [type: number, keySize: number, valueSize: number, maxEntries: number, flags: number] } | null {
  const lr = libbpf();
  if (!lr.ok) return null;
  const l = lr.value;
  const fd = l.bpf_obj_get(path);
  if (fd < 0) return null;
  const info = Buffer.alloc(88);
  if (l.bpf_obj_get_info_by_fd(fd, info, new Uint32Array([info.length])) < 0) {
    l.close(fd);
    return null;
  }
  return { fd, def: [info.readUInt32LE(0), info.readUInt32LE(8), info.readUInt32LE(12), info.readUInt32LE(16), info.readUInt32LE(20)] };
}

export function batchOpts(): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(24n, 0);
  return b;
}
