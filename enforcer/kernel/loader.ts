// Opens build/armorgate.bpf.o with libbpf, picks the programs of an attach mode,
// pins the maps (adopting pinned ones), loads, attaches and pins the links.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { err, ok, type Result } from '../../policy/types.ts';
import { bpfErr, check, checkPtr, kernelHasFunc, lastErrno, libbpf, mapKeys, openPinnedMap, type BpfError, type Ptr } from './libbpf.ts';

export type AttachMode = 'cgroup' | 'global';

export const DEFAULT_PIN_DIR = '/sys/fs/bpf/armorgate';
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The object for any kernel (walk steps by probe reads). */
export const DEFAULT_OBJECT = join(PROJECT_ROOT, 'build', 'armorgate.bpf.o');
/** The same source built with AG_CAST (bpf/kread.h): walk steps as plain loads through
 *  bpf_rdonly_cast, for kernels that have that kfunc (6.2 on). */
export const CAST_OBJECT = join(PROJECT_ROOT, 'build', 'armorgate-cast.bpf.o');
export const CAST_KFUNC = 'bpf_rdonly_cast';

let castKernel: boolean | null = null;

/** The object to load when none is named: CAST_OBJECT where the kernel's BTF has
 *  bpf_rdonly_cast and the object was built, DEFAULT_OBJECT otherwise (also when the BTF cannot
 *  be read: that object asks nothing of the kernel the other does not). */
export function defaultObject(): string {
  if (castKernel === null) {
    const has = kernelHasFunc(CAST_KFUNC);
    castKernel = has.ok && has.value;
  }
  return castKernel && existsSync(CAST_OBJECT) ? CAST_OBJECT : DEFAULT_OBJECT;
}

/** Programs by role. cgroup mode: the four hot hooks as lsm_cgroup, the rest lsm (see bpf/armorgate.h). */
const HOT_CG = ['ag_cg_exec', 'ag_cg_open', 'ag_cg_socket', 'ag_cg_capable'];
const HOT_MAC = ['ag_mac_exec', 'ag_mac_open', 'ag_mac_socket', 'ag_mac_capable'];
/** Bumps the open cache's epoch whenever a dentry gets an inode (bpf/opencache.h): attached
 *  before every other program and detached after them. */
export const OC_INVALIDATOR = 'ag_d_instantiate';
const PATH_MAC = [
  OC_INVALIDATOR, 'ag_mknod', 'ag_mkdir', 'ag_rmdir', 'ag_unlink', 'ag_symlink', 'ag_link', 'ag_rename', 'ag_truncate', 'ag_chmod', 'ag_chown',
  'ag_mmap_file', 'ag_sb_mount', 'ag_move_mount', 'ag_pivotroot',
];
const TRACEPOINTS = ['ag_tp_exec', 'ag_tp_fork', 'ag_rt_attach', 'ag_rt_fork'];
export const PINNED_MAPS = ['pods', 'rules', 'sources', 'cgroups', 'exes', 'pending', 'rates', 'agconfig', 'events', 'agvis', 'agvisconfig'];

export function programsFor(mode: AttachMode | 'probe'): { cgroup: string[]; lsm: string[]; tracepoint: string[] } {
  if (mode === 'probe') return { cgroup: ['ag_probe_cg'], lsm: ['ag_probe_mac'], tracepoint: [] };
  if (mode === 'cgroup') return { cgroup: HOT_CG, lsm: PATH_MAC, tracepoint: TRACEPOINTS };
  return { cgroup: [], lsm: [...HOT_MAC, ...PATH_MAC], tracepoint: TRACEPOINTS };
}

/** Kernel release as [major, minor]. */
export function kernelVersion(release?: string): [number, number] {
  let r = release;
  if (r === undefined) {
    try { r = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(); } catch { r = '0.0'; }
  }
  const m = /^(\d+)\.(\d+)/.exec(r);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** auto → cgroup on kernels ≥ 6.0 (BPF_LSM_CGROUP), global before. */
export function pickMode(requested: 'auto' | AttachMode, release?: string): AttachMode {
  if (requested !== 'auto') return requested;
  const [maj] = kernelVersion(release);
  return maj >= 6 ? 'cgroup' : 'global';
}

/** The kubepods cgroups beneath the cgroup root that exist, systemd driver's (kubepods.slice)
 *  first, then cgroupfs's (kubepods), with their cgroup ids (a cgroup's id is its directory's
 *  inode number). */
export function kubepodsRoots(cgroupRoot: string): { path: string; id: bigint }[] {
  const roots: { path: string; id: bigint }[] = [];
  for (const name of ['kubepods.slice', 'kubepods']) {
    const path = join(cgroupRoot, name);
    try {
      const st = statSync(path, { bigint: true });
      if (st.isDirectory()) roots.push({ path, id: st.ino });
    } catch { /* absent */ }
  }
  return roots;
}

/** The cgroup ids of the kubepods roots: what the programs find pods under (struct ag_config kp_id). */
export function kubepodsIds(cgroupRoot: string): bigint[] {
  return kubepodsRoots(cgroupRoot).map((r) => r.id);
}

/** The kubepods cgroup the cgroup programs attach to (the first root), or null. */
export function kubepodsRef(cgroupRoot: string): { path: string; id: bigint } | null {
  return kubepodsRoots(cgroupRoot)[0] ?? null;
}

/** BPF_LSM_CGROUP in enum bpf_attach_type (uapi/linux/bpf.h, since 6.0). */
const BPF_LSM_CGROUP = 43;

/** What a pinned cgroup link says of itself (struct bpf_link_info: type at 0, prog_id at 8,
 *  the union at 16, whose cgroup.cgroup_id comes first): the cgroup it is attached to, 0n once that cgroup is gone (the
 *  kernel detaches a link from a released cgroup); null when there is no such pin. */
export function cgroupLinkInfo(path: string): { progId: number; cgroupId: bigint } | null {
  const lr = libbpf();
  if (!lr.ok) return null;
  const l = lr.value;
  const fd = l.bpf_obj_get(path);
  if (fd < 0) return null;
  try {
    const info = Buffer.alloc(64);
    if (l.bpf_obj_get_info_by_fd(fd, info, new Uint32Array([info.length])) < 0) return null;
    return { progId: info.readUInt32LE(8), cgroupId: info.readBigUInt64LE(16) };
  } finally {
    l.close(fd);
  }
}

/** Attaches a loaded program (by fd) to a cgroup as BPF_LSM_CGROUP and pins the link at `pin`,
 *  replacing what was pinned there (a link to a cgroup that is gone). The new link is attached
 *  before the old pin goes. When pinning fails the link stays attached through `keep` (its fd,
 *  closed by the caller when it closes). */
export function attachCgroupPinned(progFd: number, cgroupFd: number, pin: string, keep: (fd: number) => void): Result<void, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const l = lr.value;
  const fd = l.bpf_link_create(progFd, cgroupFd, BPF_LSM_CGROUP, null);
  if (fd < 0) return bpfErr(`bpf_link_create ${pin}`, lastErrno() || -fd, pin);
  try { rmSync(pin, { force: true }); } catch { /* pinning below says */ }
  const pr = check(`bpf_obj_pin ${pin}`, l.bpf_obj_pin(fd, pin), pin);
  if (!pr.ok) { keep(fd); return pr; }
  l.close(fd); // the pin holds the link
  return ok(undefined);
}

/** 1 when sched_process_fork's comm fields are __data_loc (newer kernels), 0 for char[16]. */
export function forkLayout(): number {
  const read = (): string | null => {
    for (const d of ['/sys/kernel/tracing', '/sys/kernel/debug/tracing']) {
      try { return readFileSync(join(d, 'events/sched/sched_process_fork/format'), 'utf8'); } catch { /* next */ }
    }
    return null;
  };
  let f = read();
  if (f === null) {
    try { execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing'], { stdio: 'ignore' }); } catch { /* fallback below */ }
    f = read();
  }
  if (f === null) return 0;
  return /__data_loc char\[\] child_comm/.test(f) ? 1 : 0;
}

export interface Loaded {
  obj: Ptr;
  maps: Map<string, { fd: number; keySize: number; valueSize: number; maxEntries: number }>;
  programs: Map<string, Ptr>;
  /** Pinned maps of another layout (an earlier ArmorGate) moved here, with why; null when none. */
  retired: { dir: string; why: string[] } | null;
}

/** Pinned maps under pinDir whose definition (type, key and value size, entries, flags) differs
 *  from the object's: another ArmorGate's layout, which libbpf cannot reuse. */
function incompatiblePins(mapPtrs: ReadonlyMap<string, Ptr>, pinDir: string): string[] {
  const lr = libbpf();
  if (!lr.ok) return [];
  const l = lr.value;
  const out: string[] = [];
  for (const [name, m] of mapPtrs) {
    const path = join(pinDir, name);
    if (!PINNED_MAPS.includes(name) || !existsSync(path)) continue;
    const opened = openPinnedMap(path);
    if (opened === null) continue; // libbpf's own reuse says why
    l.close(opened.fd);
    const pinned = opened.def;
    const wanted = [l.bpf_map__type(m), l.bpf_map__key_size(m), l.bpf_map__value_size(m), l.bpf_map__max_entries(m), l.bpf_map__map_flags(m)];
    if (pinned.some((v, i) => v !== wanted[i])) {
      const show = (v: number[]): string => `type ${v[0]}, key ${v[1]} B, value ${v[2]} B, ${v[3]} entries, flags ${v[4]}`;
      out.push(`${name}: pinned ${show(pinned)}; this object ${show(wanted)}`);
    }
  }
  return out;
}

/** Moves every pinned map under pinDir into a fresh retired-<time> folder (links stay: the
 *  programs they run keep their maps until the links go). */
function retirePins(pinDir: string): Result<string, BpfError> {
  const dir = join(pinDir, `retired-${Date.now().toString(36)}-${process.pid}`);
  try {
    mkdirSync(dir);
    for (const name of PINNED_MAPS) if (existsSync(join(pinDir, name))) renameSync(join(pinDir, name), join(dir, name));
    return ok(dir);
  } catch (e) {
    const errno = Math.abs(Number((e as NodeJS.ErrnoException).errno ?? 0));
    return { ok: false, error: { code: 'E_PIN', errno, message: `cannot move the pinned maps of another layout into ${dir}: ${(e as Error).message}`, path: dir } };
  }
}

export interface LoadOptions {
  /** Pinned maps of another layout: move them aside and start with new ones (the enforcer's
   *  full load), instead of failing. */
  retireIncompatible?: boolean;
}

/** Opens and loads the object with only the named programs, maps pinned under pinDir (null: no pinning). */
export function loadObject(objectPath: string, wanted: readonly string[], pinDir: string | null, o: LoadOptions = {}): Result<Loaded, BpfError> {
  // first without a verifier log: on kernels before 6.4 a log that overflows its buffer
  // fails the load (ENOSPC); on failure, load again with a large log to explain why
  const first = loadObjectOnce(objectPath, wanted, pinDir, 0, o);
  if (first.ok || first.error.code !== 'E_BPF_LOAD') return first;
  const again = loadObjectOnce(objectPath, wanted, null, 16 * 1024 * 1024);
  if (again.ok) {
    // loads with a log but not without: should not happen; keep the first error
    const lr = libbpf();
    if (lr.ok) lr.value.bpf_object__close(again.value.obj);
    return first;
  }
  return { ok: false, error: { ...first.error, message: again.error.message } };
}

function loadObjectOnce(objectPath: string, wanted: readonly string[], pinDir: string | null, logSize: number, o: LoadOptions = {}): Result<Loaded, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const l = lr.value;
  if (!existsSync(objectPath)) return { ok: false, error: { code: 'E_NO_OBJECT', errno: 2, message: `BPF object ${objectPath} not found: run npm run build:bpf`, path: objectPath } };
  const objR = checkPtr('bpf_object__open_file', l.bpf_object__open_file(objectPath, null), objectPath);
  if (!objR.ok) return objR;
  const obj = objR.value;
  const programs = new Map<string, Ptr>();
  const logs = new Map<string, Buffer>();
  for (let p = l.bpf_object__next_program(obj, null); p !== null; p = l.bpf_object__next_program(obj, p)) {
    const name = l.bpf_program__name(p);
    const on = wanted.includes(name);
    l.bpf_program__set_autoload(p, on);
    if (on) {
      programs.set(name, p);
      if (logSize > 0) {
        const buf = Buffer.alloc(logSize);
        logs.set(name, buf);
        l.bpf_program__set_log_buf(p, buf, buf.length);
      }
    }
  }
  const missing = wanted.filter((w) => !programs.has(w));
  if (missing.length > 0) {
    l.bpf_object__close(obj);
    return { ok: false, error: { code: 'E_BPF', errno: 2, message: `programs missing from ${objectPath}: ${missing.join(', ')}` } };
  }
  if (pinDir !== null) {
    try { mkdirSync(pinDir, { recursive: true }); } catch (e) {
      l.bpf_object__close(obj);
      return { ok: false, error: { code: 'E_PIN', errno: 0, message: `cannot create ${pinDir}: ${(e as Error).message}`, path: pinDir } };
    }
  }
  const maps = new Map<string, { fd: number; keySize: number; valueSize: number; maxEntries: number }>();
  const mapPtrs = new Map<string, Ptr>();
  for (let m = l.bpf_object__next_map(obj, null); m !== null; m = l.bpf_object__next_map(obj, m)) {
    const name = l.bpf_map__name(m);
    mapPtrs.set(name, m);
    if (pinDir !== null && PINNED_MAPS.includes(name)) {
      const r = check('bpf_map__set_pin_path', l.bpf_map__set_pin_path(m, join(pinDir, name)), name);
      if (!r.ok) { l.bpf_object__close(obj); return r; }
    }
  }
  let retired: Loaded['retired'] = null;
  if (pinDir !== null) {
    const stale = incompatiblePins(mapPtrs, pinDir);
    // a move into retired-* that was cut short (the process killed between two renames) leaves
    // part of the earlier set here: never reuse such maps beside new ones
    const present = PINNED_MAPS.filter((n) => existsSync(join(pinDir, n)));
    if (present.length > 0 && present.length < PINNED_MAPS.length && hasRetiredMaps(pinDir)) {
      stale.push(`${present.join(', ')}: what is left of a set whose move into retired-* was cut short`);
    }
    if (stale.length > 0 && !o.retireIncompatible) {
      l.bpf_object__close(obj);
      return { ok: false, error: { code: 'E_PIN_LAYOUT', errno: 22, message: `maps pinned under ${pinDir} have another layout (an earlier ArmorGate's): ${stale.join('; ')}`, path: pinDir } };
    }
    if (stale.length > 0) {
      const moved = retirePins(pinDir);
      if (!moved.ok) { l.bpf_object__close(obj); return moved; }
      retired = { dir: moved.value, why: stale };
    }
  }
  const rc = l.bpf_object__load(obj);
  if (rc < 0) {
    const log = [...logs.entries()].map(([n, b]) => {
      const end = b.indexOf(0);
      const text = b.toString('utf8', 0, end < 0 ? b.length : end);
      return text ? `--- ${n}\n${text.split('\n').slice(-40).join('\n')}` : '';
    }).filter(Boolean).join('\n');
    l.bpf_object__close(obj);
    const e = bpfErr('bpf_object__load', rc, objectPath);
    if (log) e.error.message += `\n${log}`;
    e.error.code = 'E_BPF_LOAD';
    return e;
  }
  for (const [name, m] of mapPtrs) {
    maps.set(name, { fd: l.bpf_map__fd(m), keySize: l.bpf_map__key_size(m), valueSize: l.bpf_map__value_size(m), maxEntries: l.bpf_map__max_entries(m) });
  }
  return ok({ obj, maps, programs, retired });
}

export interface AttachedLinks {
  links: Ptr[];
  /** the program of each link, in attach order */
  names: string[];
  pins: string[];
}

/** Attaches the programs of a mode and pins each link under pinDir/links/<epoch>-<program>. */
export function attachAll(loaded: Loaded, mode: AttachMode, kubepodsFd: number, pinDir: string | null, epoch: string, roles: readonly ('cgroup' | 'lsm' | 'tracepoint')[] = ['cgroup', 'lsm', 'tracepoint']): Result<AttachedLinks, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const l = lr.value;
  const all = programsFor(mode);
  const want = { cgroup: roles.includes('cgroup') ? all.cgroup : [], lsm: roles.includes('lsm') ? all.lsm : [], tracepoint: roles.includes('tracepoint') ? all.tracepoint : [] };
  const links: Ptr[] = [];
  const names: string[] = [];
  const pins: string[] = [];
  const undo = (): void => { for (const k of [...links].reverse()) l.bpf_link__destroy(k); };
  const linkDir = pinDir === null ? null : join(pinDir, 'links');
  if (linkDir !== null) mkdirSync(linkDir, { recursive: true });
  const one = (name: string, how: 'cgroup' | 'lsm' | 'tp'): Result<void, BpfError> => {
    const p = loaded.programs.get(name);
    if (p === undefined) return { ok: false, error: { code: 'E_BPF', errno: 2, message: `program ${name} not loaded` } };
    const link = how === 'cgroup' ? l.bpf_program__attach_cgroup(p, kubepodsFd) : how === 'lsm' ? l.bpf_program__attach_lsm(p) : l.bpf_program__attach(p);
    const r = checkPtr(`attach ${name}`, link);
    if (!r.ok) return r;
    links.push(r.value);
    names.push(name);
    if (linkDir !== null) {
      const path = join(linkDir, `${epoch}-${name}`);
      const pr = check(`bpf_link__pin ${name}`, l.bpf_link__pin(r.value, path), path);
      if (!pr.ok) return pr;
      pins.push(path);
    }
    return ok(undefined);
  };
  // the open cache's invalidation first: the open programs cache nothing until it has run
  const first = want.lsm.filter((n) => n === OC_INVALIDATOR);
  for (const n of first) { const r = one(n, 'lsm'); if (!r.ok) { undo(); return r; } }
  for (const n of want.cgroup) { const r = one(n, 'cgroup'); if (!r.ok) { undo(); return r; } }
  for (const n of want.lsm) { if (n === OC_INVALIDATOR) continue; const r = one(n, 'lsm'); if (!r.ok) { undo(); return r; } }
  for (const n of want.tracepoint) { const r = one(n, 'tp'); if (!r.ok) { undo(); return r; } }
  return ok({ links, names, pins });
}

/** What a link epoch is made of: the object's content and the attach mode, so a restarted
 *  enforcer knows whether the pinned links run exactly the programs it would load. */
export function objectStamp(objectPath: string, mode: AttachMode): string | null {
  try {
    return `${createHash('sha256').update(readFileSync(objectPath)).digest('hex').slice(0, 16)}_${mode}`;
  } catch {
    return null;
  }
}

/** Link pins are named `<epoch>-<program>`; epochs are `<stamp>_<time>-<pid>` (bpffs refuses names with a dot). */
function linkPins(pinDir: string): { epoch: string; program: string }[] {
  let names: string[];
  try { names = readdirSync(join(pinDir, 'links')); } catch { return []; }
  const out: { epoch: string; program: string }[] = [];
  for (const n of names) {
    const at = n.indexOf('-ag_');
    if (at > 0) out.push({ epoch: n.slice(0, at), program: n.slice(at + 1) });
  }
  return out;
}

/**
 * The epoch of a complete set of pinned links of this object and mode, with every map pinned
 * beside it, or null. Such links are attached and running this very object's programs over
 * the pinned maps: a restarted enforcer adopts them instead of loading the programs again.
 */
export function adoptableEpoch(pinDir: string, stamp: string, mode: AttachMode): string | null {
  if (!PINNED_MAPS.every((m) => existsSync(join(pinDir, m)))) return null;
  const want = programsFor(mode);
  const names = [...want.cgroup, ...want.lsm, ...want.tracepoint];
  const byEpoch = new Map<string, Set<string>>();
  for (const { epoch, program } of linkPins(pinDir)) {
    if (!epoch.startsWith(`${stamp}_`)) continue;
    const set = byEpoch.get(epoch) ?? new Set<string>();
    set.add(program);
    byEpoch.set(epoch, set);
  }
  const complete = [...byEpoch].filter(([, set]) => names.every((n) => set.has(n))).map(([e]) => e).sort();
  return complete.at(-1) ?? null;
}

/** The retired-* folders under pinDir (retirePins): maps of another layout waiting for their links to go. */
function retiredDirs(pinDir: string): string[] {
  try { return readdirSync(pinDir).filter((n) => n.startsWith('retired-')).map((n) => join(pinDir, n)); } catch { return []; }
}

/** Whether maps of another layout wait under pinDir for their links to go. */
export function hasRetiredMaps(pinDir: string): boolean {
  return retiredDirs(pinDir).length > 0;
}

/** UIDs of the pods in the retired `pods` maps under pinDir: the pods the earlier programs still
 *  protect (a pods key starts with the NUL-terminated UID in every layout so far). */
export function retiredPodUids(pinDir: string): string[] {
  const lr = libbpf();
  if (!lr.ok) return [];
  const out = new Set<string>();
  for (const d of retiredDirs(pinDir)) {
    const path = join(d, 'pods');
    if (!existsSync(path)) continue;
    const opened = openPinnedMap(path);
    if (opened === null) continue;
    const keySize = opened.def[1];
    for (const k of mapKeys(opened.fd, keySize, 1 << 20)) {
      const end = k.indexOf(0);
      out.add(k.toString('utf8', 0, end < 0 ? keySize : end).toLowerCase());
    }
    lr.value.close(opened.fd);
  }
  return [...out];
}

/** Removes the folders of retired maps (retirePins); their programs' links must be gone first
 *  or the maps live on, unpinned, with them. */
export function dropRetiredMaps(pinDir: string): number {
  let n = 0;
  for (const d of retiredDirs(pinDir)) {
    try { rmSync(d, { recursive: true, force: true }); n++; } catch { /* gone */ }
  }
  return n;
}

/** Removes pinned links of earlier epochs (after the new ones are attached: no gap). */
export function dropOldLinks(pinDir: string, keepEpoch: string): number {
  const linkDir = join(pinDir, 'links');
  let n = 0;
  let names: string[];
  try { names = readdirSync(linkDir); } catch { return 0; }
  // the open cache's invalidation goes last (bpf/opencache.h)
  const last = (n: string): number => (n.endsWith(`-${OC_INVALIDATOR}`) ? 1 : 0);
  names.sort((a, b) => last(a) - last(b));
  for (const name of names) {
    if (name.startsWith(`${keepEpoch}-`)) continue;
    try { rmSync(join(linkDir, name)); n++; } catch { /* already gone */ }
  }
  return n;
}

/** Opens a directory (cgroup) read-only; the fd or an error value. */
export function openDir(path: string): Result<number, BpfError> {
  const lr = libbpf();
  if (!lr.ok) return lr;
  const O_RDONLY = 0;
  const O_DIRECTORY = 0o200000;
  const fd = lr.value.open(path, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return bpfErr(`open ${path}`, lastErrno() || 2, path);
  return ok(fd);
}

export function closeFd(fd: number): void {
  const lr = libbpf();
  if (lr.ok && fd >= 0) lr.value.close(fd);
}

export function noKubepods(cgroupRoot: string): { ok: false; error: BpfError } {
  const e = err('E_NO_KUBEPODS', `no kubepods cgroup (kubepods.slice or kubepods) under ${cgroupRoot}: cgroup attach mode needs it`, cgroupRoot);
  return { ok: false, error: { ...e.error, errno: 2 } };
}
