// The probe's assessment over the facts of real machine kinds, and the fact parsers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assess, cgroupHierarchyOf, formatReport, lockdownOf, lsmFromCmdline, parseKernelConfig, uekOf, type ProbeFacts,
} from '../../enforcer/probe.ts';

const attached = { ok: true as const, value: { cgroupMode: true, globalMode: true, detail: 'lsm_cgroup program attached' } };
const refused = { ok: true as const, value: { cgroupMode: false, globalMode: false, detail: 'BPF_PROG_LOAD of an LSM program: EPERM' } };

function facts(over: Partial<ProbeFacts>): ProbeFacts {
  return {
    kernelRelease: '6.12.0-103.40.4.2.el9uek.x86_64', os: { id: 'ol', versionId: '9.5', prettyName: 'Oracle Linux Server 9.5' },
    lsmActive: ['lockdown', 'capability', 'yama', 'selinux', 'bpf'], lsmCmdline: null,
    config: { CONFIG_BPF_LSM: 'y', CONFIG_DEBUG_INFO_BTF: 'y' }, btf: true, lockdown: 'none', cgroup: 'v2', lsmProbe: attached,
    ...over,
  };
}

test('a ready UEK8 node can enforce in cgroup mode and reports no problem', () => {
  const r = assess(facts({}));
  assert.equal(r.uek, 'UEK8');
  assert.equal(r.attachMode, 'cgroup');
  assert.equal(r.canEnforce, true);
  assert.deepEqual(r.problems, []);
});

test('UEK7 (5.15): global mode only still enforces', () => {
  const r = assess(facts({
    kernelRelease: '5.15.0-300.163.18.el8uek.x86_64',
    lsmProbe: { ok: true, value: { cgroupMode: false, globalMode: true, detail: 'BPF_LSM_CGROUP needs 6.0' } },
  }));
  assert.equal(r.uek, 'UEK7');
  assert.equal(r.attachMode, 'global');
  assert.equal(r.canEnforce, true);
});

test('Oracle Linux without bpf in the LSM list: grubby appends bpf to the existing list, never replaces it', () => {
  const r = assess(facts({ lsmActive: ['lockdown', 'capability', 'yama', 'selinux'], lsmCmdline: null, lsmProbe: refused }));
  assert.equal(r.canEnforce, false);
  assert.equal(r.attachMode, 'none');
  const p = r.problems.find((x) => x.code === 'BPF_LSM_DISABLED');
  assert.ok(p);
  assert.match(p.remediation, /sudo grubby --update-kernel=ALL --args="lsm=lockdown,capability,yama,selinux,bpf"/);
  assert.match(p.remediation, /reboot/);
  assert.match(p.remediation, /cloud-init/);
  // an explicit lsm= on the boot line is the list that is extended
  const q = assess(facts({ lsmActive: ['capability', 'selinux'], lsmCmdline: ['selinux', 'yama'], lsmProbe: refused }))
    .problems.find((x) => x.code === 'BPF_LSM_DISABLED');
  assert.match(q?.remediation ?? '', /--args="lsm=selinux,yama,bpf"/);
});

test('cgroup v1 or hybrid: unified hierarchy remediation, and no enforcement claimed even if programs load', () => {
  for (const cgroup of ['v1', 'hybrid'] as const) {
    const r = assess(facts({ cgroup }));
    assert.equal(r.canEnforce, false);
    const p = r.problems.find((x) => x.code === 'CGROUP_NOT_UNIFIED');
    assert.match(p?.remediation ?? '', /grubby --update-kernel=ALL --args="systemd.unified_cgroup_hierarchy=1"/);
  }
});

test('a machine that lists bpf yet refuses LSM programs says exactly that', () => {
  const r = assess(facts({ kernelRelease: '6.18.44-fc', os: { id: 'debian', versionId: '12', prettyName: '' }, lsmProbe: refused }));
  assert.equal(r.canEnforce, false);
  assert.equal(r.uek, null);
  const p = r.problems.find((x) => x.code === 'LSM_PROGRAM_REFUSED');
  assert.match(p?.message ?? '', /lists bpf among its LSMs yet refuses LSM programs: BPF_PROG_LOAD of an LSM program: EPERM/);
  const e = assess(facts({ lsmProbe: { ok: false, error: { code: 'E_PROG_LOAD', message: 'Operation not permitted' } } }));
  assert.match(e.problems[0]?.message ?? '', /yet refuses LSM programs: Operation not permitted/);
  assert.match(formatReport(e), /can enforce: no/);
});

test('old kernel, no BTF, lockdown confidentiality, BPF_LSM not built: each a problem with a remedy', () => {
  const r = assess(facts({
    kernelRelease: '5.4.17-2136.el8uek.x86_64', btf: false, lockdown: 'confidentiality', config: { CONFIG_BPF_LSM: 'n' }, lsmProbe: refused,
  }));
  assert.equal(r.uek, 'UEK6');
  const codes = r.problems.map((p) => p.code);
  for (const c of ['KERNEL_TOO_OLD', 'NO_BTF', 'LOCKDOWN_CONFIDENTIALITY', 'BPF_LSM_NOT_BUILT', 'LSM_PROGRAM_REFUSED']) assert.ok(codes.includes(c), c);
  for (const p of r.problems) assert.ok(p.remediation.length > 10, `${p.code} has a remediation`);
});

test('fact parsers', () => {
  assert.equal(uekOf('5.15.0-300.163.18.el8uek.x86_64'), 'UEK7');
  assert.equal(uekOf('6.12.0-1.el9uek.aarch64'), 'UEK8');
  assert.equal(uekOf('6.1.0-28-amd64'), null);
  assert.deepEqual(lsmFromCmdline('BOOT_IMAGE=/vmlinuz ro lsm=a,b quiet lsm=selinux,bpf'), ['selinux', 'bpf']);
  assert.equal(lsmFromCmdline('ro quiet'), null);
  assert.equal(lockdownOf('none [integrity] confidentiality\n'), 'integrity');
  assert.deepEqual(parseKernelConfig('CONFIG_BPF_LSM=y\n# CONFIG_X is not set\nCONFIG_LSM="landlock,bpf"\n'), { CONFIG_BPF_LSM: 'y', CONFIG_LSM: 'landlock,bpf' });
  const v2 = '29 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
  const v1 = '30 1 0:27 / /sys/fs/cgroup/cpu rw shared:5 - cgroup cgroup rw,cpu\n';
  const unified = '31 1 0:28 / /sys/fs/cgroup/unified rw shared:6 - cgroup2 cgroup2 rw\n';
  assert.equal(cgroupHierarchyOf(v2), 'v2');
  assert.equal(cgroupHierarchyOf(v1 + unified), 'hybrid');
  assert.equal(cgroupHierarchyOf(v1), 'v1');
  assert.equal(cgroupHierarchyOf(''), 'unknown');
});
