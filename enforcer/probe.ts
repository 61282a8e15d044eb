// Can this node enforce? Gathers facts from several independent places (the kernel release, the
// active LSM list, the boot command line, the kernel config, BTF, lockdown, the mounted cgroup
// hierarchy) and then proves it: a tiny LSM program is loaded and attached through the kernel
// module. `assess` turns the facts into a report with one remediation per problem; it is pure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Result } from '../policy/types.ts';

export type CgroupHierarchy = 'v2' | 'hybrid' | 'v1' | 'unknown';
export type AttachModeFound = 'cgroup' | 'global' | 'none';

export interface LsmProbeResult { cgroupMode: boolean; globalMode: boolean; detail: string }

export interface ProbeFacts {
  kernelRelease: string;
  /** ID and VERSION_ID of /etc/os-release (empty when unreadable). */
  os: { id: string; versionId: string; prettyName: string };
  /** Active LSMs from /sys/kernel/security/lsm; null when securityfs cannot be read. */
  lsmActive: string[] | null;
  /** The lsm= list of /proc/cmdline, null when the boot line sets none. */
  lsmCmdline: string[] | null;
  /** CONFIG_BPF_LSM / CONFIG_DEBUG_INFO_BTF / CONFIG_LSM from the kernel config, null when not found. */
  config: Record<string, string> | null;
  btf: boolean;
  /** Current lockdown mode ('none' | 'integrity' | 'confidentiality'), null when unknown. */
  lockdown: string | null;
  cgroup: CgroupHierarchy;
  /** What loading and attaching a tiny LSM program showed. */
  lsmProbe: Result<LsmProbeResult>;
}

export interface ProbeProblem {
  code: string;
  message: string;
  remediation: string;
}

export interface ProbeReport {
  kernel: string;
  /** 'UEK6' | 'UEK7' | 'UEK8' | 'UEK' when the release is an Unbreakable Enterprise Kernel, else null. */
  uek: string | null;
  lsm: { active: string[] | null; bootParameter: string[] | null; bpfListed: boolean | null; programsLoad: boolean; detail: string };
  btf: boolean;
  lockdown: string | null;
  cgroup: CgroupHierarchy;
  attachMode: AttachModeFound;
  canEnforce: boolean;
  problems: ProbeProblem[];
}

const UEK_BY_VERSION: Record<string, string> = { '4.14': 'UEK5', '5.4': 'UEK6', '5.15': 'UEK7', '6.12': 'UEK8' };

export function uekOf(kernelRelease: string): string | null {
  if (!/uek/i.test(kernelRelease)) return null;
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  return (m ? UEK_BY_VERSION[`${m[1]}.${m[2]}`] : undefined) ?? 'UEK';
}

function versionOf(kernelRelease: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** Parses /proc/self/mountinfo: where cgroup2 and v1 controllers are mounted. */
export function cgroupHierarchyOf(mountinfo: string, cgroupRoot = '/sys/fs/cgroup'): CgroupHierarchy {
  let v2Root = false;
  let v2Elsewhere = false;
  let v1 = false;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype === 'cgroup2') {
      if (mountPoint === cgroupRoot) v2Root = true;
      else v2Elsewhere = true;
    } else if (fstype === 'cgroup') {
      v1 = true;
    }
  }
  if (v2Root && !v1) return 'v2';
  if (v1 && (v2Elsewhere || v2Root)) return 'hybrid';
  if (v1) return 'v1';
  if (v2Elsewhere) return 'v2';
  return 'unknown';
}

/** `lsm=a,b,c` from a kernel command line (the last one wins, as for the kernel). */
export function lsmFromCmdline(cmdline: string): string[] | null {
  let found: string[] | null = null;
  for (const word of cmdline.trim().split(/\s+/)) {
    if (word.startsWith('lsm=')) found = word.slice(4).split(',').filter((s) => s !== '');
  }
  return found;
}

export function lockdownOf(text: string): string | null {
  const m = /\[(\w+)\]/.exec(text);
  return m?.[1] ?? null;
}

export function parseKernelConfig(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(CONFIG_(?:BPF_LSM|DEBUG_INFO_BTF|LSM|BPF_SYSCALL|CGROUP_BPF))=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out[m[1]] = m[2].replace(/^"|"$/g, '');
  }
  return out;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** securityfs files (lsm, lockdown). Where /sys/kernel/security is not mounted (a container), a
 *  private read-only securityfs mount is made for the reading and removed at once. */
function readSecurityfs(names: string[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const n of names) out[n] = read(`/sys/kernel/security/${n}`);
  if (names.every((n) => out[n] !== null)) return out;
  let dir: string | null = null;
  try {
    dir = mkdtempSync(join(tmpdir(), 'armorgate-securityfs-'));
    execFileSync('mount', ['-t', 'securityfs', '-o', 'ro,nosuid,nodev,noexec', 'securityfs', dir], { stdio: 'ignore', timeout: 5000 });
    try {
      for (const n of names) out[n] ??= read(join(dir, n));
    } finally {
      execFileSync('umount', [dir], { stdio: 'ignore', timeout: 5000 });
    }
  } catch {
    // not permitted here: those facts stay unknown
  } finally {
    if (dir !== null) try { rmdirSync(dir); } catch { /* still mounted or gone */ }
  }
  return out;
}

export interface GatherOptions {
  cgroupRoot: string;
  /** The kernel module's LSM probe; by default enforcer/kernel's probeLsm. */
  probeLsm?: (o: { cgroupRoot: string }) => Promise<Result<LsmProbeResult>>;
}

async function defaultProbeLsm(o: { cgroupRoot: string }): Promise<Result<LsmProbeResult>> {
  try {
    const k = (await import('./kernel/index.ts')) as { probeLsm: (o: { cgroupRoot: string }) => Promise<Result<LsmProbeResult>> };
    return await k.probeLsm(o);
  } catch (e) {
    return { ok: false, error: { code: 'E_KERNEL_MODULE', message: `the BPF loader could not run: ${e instanceof Error ? e.message : String(e)}` } };
  }
}

/** Reads the facts of this machine. Never throws: what cannot be read is recorded as unknown. */
export async function gatherFacts(o: GatherOptions): Promise<ProbeFacts> {
  const kernelRelease = release();
  const osText = read('/etc/os-release') ?? '';
  const osField = (k: string): string => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(osText)?.[1] ?? '';
  const sec = readSecurityfs(['lsm', 'lockdown']);
  const lsmText = sec.lsm ?? null;
  let configText = read(`/boot/config-${kernelRelease}`);
  if (configText === null && existsSync('/proc/config.gz')) {
    try {
      configText = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    } catch {
      configText = null;
    }
  }
  let btf: boolean;
  try {
    btf = statSync('/sys/kernel/btf/vmlinux').size > 0;
  } catch {
    btf = false;
  }
  let lsmProbe: Result<LsmProbeResult>;
  try {
    lsmProbe = await (o.probeLsm ?? defaultProbeLsm)({ cgroupRoot: o.cgroupRoot });
  } catch (e) {
    lsmProbe = { ok: false, error: { code: 'E_PROBE', message: e instanceof Error ? e.message : String(e) } };
  }
  const lockdownText = sec.lockdown ?? null;
  return {
    kernelRelease,
    os: { id: osField('ID'), versionId: osField('VERSION_ID'), prettyName: osField('PRETTY_NAME') },
    lsmActive: lsmText === null ? null : lsmText.trim().split(',').filter((s) => s !== ''),
    lsmCmdline: lsmFromCmdline(read('/proc/cmdline') ?? ''),
    config: configText === null ? null : parseKernelConfig(configText),
    btf,
    lockdown: lockdownText === null ? null : lockdownOf(lockdownText),
    cgroup: cgroupHierarchyOf(read('/proc/self/mountinfo') ?? '', o.cgroupRoot),
    lsmProbe,
  };
}

const OKE_HINT = 'On an OKE node pool, put the same commands in the node pool\'s cloud-init (docs/oke.md) so that new nodes boot ready.';

/** The lsm= list to boot with: the current one with bpf appended (never replaced: that would drop SELinux). */
export function lsmWithBpf(f: Pick<ProbeFacts, 'lsmCmdline' | 'lsmActive' | 'config'>): string[] {
  const base = f.lsmCmdline ?? f.lsmActive ?? (f.config?.CONFIG_LSM ? f.config.CONFIG_LSM.split(',') : null)
    ?? ['lockdown', 'capability', 'yama', 'selinux'];
  return base.includes('bpf') ? base : [...base, 'bpf'];
}

function isOracleLinux(f: ProbeFacts): boolean {
  return f.os.id === 'ol' || uekOf(f.kernelRelease) !== null;
}

/** Remediation where the kernel lists bpf among its LSMs yet refuses or cannot attach LSM programs
 *  (both failure branches of assess). CAP_BPF and CAP_PERFMON are what the DaemonSet grants and
 *  what test/manifests proves sufficient in the VM. */
const REFUSED_WHILE_LISTED =
  'Run the enforcer on the node itself (not inside a sandbox or nested VM that forbids BTF-attached programs), with CAP_BPF and CAP_PERFMON (kernel.perf_event_paranoid at 2 or less) and the host\'s /sys/fs/bpf; check that no seccomp profile or security module denies bpf(BPF_PROG_LOAD) of BPF_PROG_TYPE_LSM.';

/** Facts → report. canEnforce only when an LSM program really loaded and attached and pods' cgroups
 *  live in the unified hierarchy (BPF sees cgroup v2 ids only). */
export function assess(f: ProbeFacts): ProbeReport {
  const problems: ProbeProblem[] = [];
  const uek = uekOf(f.kernelRelease);
  const ol = isOracleLinux(f);
  const bpfListed = f.lsmActive === null ? null : f.lsmActive.includes('bpf');
  const probe = f.lsmProbe.ok ? f.lsmProbe.value : null;
  const attachMode: AttachModeFound = probe?.cgroupMode ? 'cgroup' : probe?.globalMode ? 'global' : 'none';
  const reboot = ol ? ' then reboot (sudo reboot).' : ' then reboot.';

  const [major, minor] = versionOf(f.kernelRelease);
  if (major < 5 || (major === 5 && minor < 11)) {
    problems.push({
      code: 'KERNEL_TOO_OLD',
      message: `kernel ${f.kernelRelease} is older than 5.11: BPF-LSM enforcement needs 5.11 or later`,
      remediation: ol
        ? 'Move the node to UEK7 (5.15) or UEK8 (6.12): on OKE choose an Oracle Linux 8/9 node image with UEK7 or UEK8.'
        : 'Boot a kernel 5.11 or later with BPF-LSM and BTF.',
    });
  }
  if (bpfListed === false) {
    const list = lsmWithBpf(f).join(',');
    problems.push({
      code: 'BPF_LSM_DISABLED',
      message: `bpf is not among the active LSMs (${(f.lsmActive ?? []).join(',')})`,
      remediation: ol
        ? `Append bpf to the existing lsm= list, never replace it (replacing drops SELinux): sudo grubby --update-kernel=ALL --args="lsm=${list}"${reboot} ${OKE_HINT}`
        : `Add bpf to the kernel's lsm= boot parameter, keeping every LSM already listed: lsm=${list}${reboot}`,
    });
  } else if (bpfListed === null) {
    problems.push({
      code: 'LSM_LIST_UNREADABLE',
      message: 'cannot read /sys/kernel/security/lsm (securityfs not mounted here?)',
      remediation: 'Mount securityfs (mount -t securityfs securityfs /sys/kernel/security) or run the probe on the node itself with the host\'s /sys.',
    });
  }
  if (f.config !== null && f.config.CONFIG_BPF_LSM !== undefined && f.config.CONFIG_BPF_LSM !== 'y') {
    problems.push({
      code: 'BPF_LSM_NOT_BUILT',
      message: `this kernel is built without CONFIG_BPF_LSM (${f.config.CONFIG_BPF_LSM})`,
      remediation: ol ? 'Use UEK7 or UEK8, which are built with CONFIG_BPF_LSM=y.' : 'Use a kernel built with CONFIG_BPF_LSM=y.',
    });
  }
  if (!f.btf) {
    problems.push({
      code: 'NO_BTF',
      message: '/sys/kernel/btf/vmlinux is missing: the kernel exposes no BTF, so LSM programs cannot be loaded',
      remediation: ol ? 'Use UEK7 or UEK8 (built with CONFIG_DEBUG_INFO_BTF=y).' : 'Use a kernel built with CONFIG_DEBUG_INFO_BTF=y.',
    });
  }
  if (f.lockdown === 'confidentiality') {
    problems.push({
      code: 'LOCKDOWN_CONFIDENTIALITY',
      message: 'kernel lockdown is in confidentiality mode, which forbids the BPF helpers the enforcer needs',
      remediation: ol
        ? `Boot with lockdown=integrity: sudo grubby --update-kernel=ALL --args="lockdown=integrity"${reboot} ${OKE_HINT}`
        : `Boot with lockdown=integrity (or none)${reboot}`,
    });
  }
  if (f.cgroup !== 'v2') {
    problems.push({
      code: 'CGROUP_NOT_UNIFIED',
      message: `the cgroup hierarchy is ${f.cgroup}: pods must live in the unified (v2) hierarchy for BPF to scope rules by cgroup`,
      remediation: ol
        ? `Switch to the unified hierarchy: sudo grubby --update-kernel=ALL --args="systemd.unified_cgroup_hierarchy=1"${reboot} ${OKE_HINT}`
        : `Boot with systemd.unified_cgroup_hierarchy=1${reboot}`,
    });
  }
  if (!f.lsmProbe.ok && f.lsmProbe.error.code === 'E_KERNEL_MODULE') {
    problems.push({
      code: 'LSM_PROBE_UNAVAILABLE',
      message: `could not test whether LSM programs load: ${f.lsmProbe.error.message}`,
      remediation: 'Install libbpf (Debian/Ubuntu libbpf1, Oracle Linux libbpf) and the built BPF object (npm run build:bpf), then run armorgate probe again.',
    });
  } else if (!f.lsmProbe.ok) {
    problems.push({
      code: 'LSM_PROGRAM_REFUSED',
      message: bpfListed === true
        ? `the kernel lists bpf among its LSMs yet refuses LSM programs: ${f.lsmProbe.error.message}`
        : `loading a test LSM program failed: ${f.lsmProbe.error.message}`,
      remediation: bpfListed === true
        ? REFUSED_WHILE_LISTED
        : 'Fix the problems above, then run armorgate probe again.',
    });
  } else if (attachMode === 'none') {
    problems.push({
      code: 'LSM_PROGRAM_REFUSED',
      message: bpfListed === true
        ? `the kernel lists bpf among its LSMs yet refuses LSM programs: ${f.lsmProbe.value.detail}`
        : `no LSM program could be attached: ${f.lsmProbe.value.detail}`,
      remediation: bpfListed === true
        ? REFUSED_WHILE_LISTED
        : 'Enable BPF-LSM as described above, then run armorgate probe again.',
    });
  }
  return {
    kernel: f.kernelRelease,
    uek,
    lsm: {
      active: f.lsmActive, bootParameter: f.lsmCmdline, bpfListed,
      programsLoad: attachMode !== 'none',
      detail: f.lsmProbe.ok ? f.lsmProbe.value.detail : f.lsmProbe.error.message,
    },
    btf: f.btf,
    lockdown: f.lockdown,
    cgroup: f.cgroup,
    attachMode,
    canEnforce: attachMode !== 'none' && f.cgroup === 'v2',
    problems,
  };
}

/** Human-readable report. */
export function formatReport(r: ProbeReport): string {
  const lines = [
    `kernel:      ${r.kernel}${r.uek ? ` (${r.uek})` : ''}`,
    `lsm:         ${r.lsm.active === null ? 'unreadable' : r.lsm.active.join(',')}${r.lsm.bpfListed ? '' : r.lsm.bpfListed === false ? '  (bpf missing)' : ''}`,
    `lsm probe:   ${r.lsm.programsLoad ? 'an LSM program loaded and attached' : 'LSM programs refused'}: ${r.lsm.detail}`,
    `btf:         ${r.btf ? 'yes' : 'no'}`,
    `lockdown:    ${r.lockdown ?? 'unknown'}`,
    `cgroup:      ${r.cgroup}`,
    `attach mode: ${r.attachMode}`,
    `can enforce: ${r.canEnforce ? 'yes' : 'no'}`,
  ];
  for (const p of r.problems) lines.push('', `problem ${p.code}: ${p.message}`, `  fix: ${p.remediation}`);
  return `${lines.join('\n')}\n`;
}
