// A minimal probe of whether this kernel accepts BPF LSM programs, for the harness's self-test:
// the bpf(2) syscall straight through koffi (no libbpf, no object file), a two-instruction program
// attached to the LSM hook `file_open` found in the kernel's BTF. The real loader is the
// enforcer's; this only shows the VM is a kernel where that loader can work.
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

// From <linux/bpf.h> (uapi, stable numbers).
const SYS_BPF = 321; // x86_64
const BPF_PROG_LOAD = 5;
const BPF_RAW_TRACEPOINT_OPEN = 17;
const BPF_LINK_CREATE = 28;
const BPF_PROG_TYPE_LSM = 29;
export const BPF_LSM_MAC = 27;
export const BPF_LSM_CGROUP = 43;
const ATTR_SIZE = 144; // sizeof(union bpf_attr) in the uapi header these offsets come from

const BTF_KIND_FUNC = 12;

/** BTF type id of the function `name` in a raw BTF blob (e.g. /sys/kernel/btf/vmlinux); 0 if absent. */
export function btfFuncId(btf: Buffer, name: string): number {
  if (btf.readUInt16LE(0) !== 0xeb9f) throw new Error('not BTF: bad magic');
  const hdrLen = btf.readUInt32LE(4);
  const typeOff = hdrLen + btf.readUInt32LE(8);
  const typeLen = btf.readUInt32LE(12);
  const strOff = hdrLen + btf.readUInt32LE(16);
  const strLen = btf.readUInt32LE(20);
  const strAt = (off: number): string => {
    const start = strOff + off;
    let end = start;
    while (end < strOff + strLen && btf[end] !== 0) end++;
    return btf.toString('latin1', start, end);
  };
  let p = typeOff;
  let id = 1;
  while (p < typeOff + typeLen) {
    const nameOff = btf.readUInt32LE(p);
    const info = btf.readUInt32LE(p + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (kind === BTF_KIND_FUNC && strAt(nameOff) === name) return id;
    p += 12;
    switch (kind) {
      case 1: case 14: case 17: p += 4; break;               // INT, VAR, DECL_TAG
      case 3: p += 12; break;                                 // ARRAY
      case 4: case 5: case 15: case 19: p += 12 * vlen; break; // STRUCT, UNION, DATASEC, ENUM64
      case 6: case 13: p += 8 * vlen; break;                  // ENUM, FUNC_PROTO
      default: break;                                         // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
    }
    id++;
  }
  return 0;
}

let sysBpf: ((cmd: number, attr: Buffer, size: number) => number) | undefined;
function bpf(cmd: number, attr: Buffer): { fd: number; errno: number } {
  if (!sysBpf) {
    const libc = koffi.load('libc.so.6');
    const fn = libc.func('long syscall(long nr, int cmd, void *attr, unsigned int size)');
    sysBpf = (c, a, s) => Number(fn(SYS_BPF, c, a, s));
  }
  const r = sysBpf(cmd, attr, ATTR_SIZE);
  return r < 0 ? { fd: -1, errno: koffi.errno() } : { fd: r, errno: 0 };
}

export interface ProbeResult {
  ok: boolean;
  fd: number;
  errno: number;
  log: string;
}

/** Loads `r0 = retval; exit` as an LSM program on `file_open` with the given expected attach type. */
export function loadLsmProgram(attachType: number, retval: number): ProbeResult {
  const btfId = btfFuncId(readFileSync('/sys/kernel/btf/vmlinux'), 'bpf_lsm_file_open');
  if (btfId === 0) return { ok: false, fd: -1, errno: 0, log: 'bpf_lsm_file_open is not in the kernel BTF' };
  const insns = Buffer.alloc(16);
  insns.writeUInt8(0xb7, 0);          // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
  insns.writeInt32LE(retval, 4);
  insns.writeUInt8(0x95, 8);          // BPF_JMP | BPF_EXIT
  const license = Buffer.from('GPL\0');
  const log = Buffer.alloc(64 * 1024);
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(BPF_PROG_TYPE_LSM, 0);
  attr.writeUInt32LE(2, 4);
  attr.writeBigUInt64LE(koffi.address(insns), 8);
  attr.writeBigUInt64LE(koffi.address(license), 16);
  attr.writeUInt32LE(1, 24);          // log_level
  attr.writeUInt32LE(log.length, 28);
  attr.writeBigUInt64LE(koffi.address(log), 32);
  attr.write('ag_probe', 48, 'latin1');
  attr.writeUInt32LE(attachType, 68);
  attr.writeUInt32LE(btfId, 108);
  const r = bpf(BPF_PROG_LOAD, attr);
  const text = log.toString('latin1', 0, Math.max(0, log.indexOf(0)));
  return { ok: r.fd >= 0, fd: r.fd, errno: r.errno, log: text };
}

/** Attaches a BPF_LSM_CGROUP program to a cgroup (fd of its directory): a link fd or -errno. */
export function attachToCgroup(progFd: number, cgroupFd: number): { fd: number; errno: number } {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(progFd, 0);
  attr.writeUInt32LE(cgroupFd, 4);
  attr.writeUInt32LE(BPF_LSM_CGROUP, 8);
  return bpf(BPF_LINK_CREATE, attr);
}

/** Attaches a BPF_LSM_MAC program system-wide: a link fd or -errno. */
export function attachGlobal(progFd: number): { fd: number; errno: number } {
  const attr = Buffer.alloc(ATTR_SIZE);
  attr.writeUInt32LE(progFd, 8);
  return bpf(BPF_RAW_TRACEPOINT_OPEN, attr);
}
