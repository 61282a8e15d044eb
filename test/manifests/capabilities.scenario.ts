// Guest suite (VM): the enforcer DaemonSet's capability set, read from manifests/enforcer.yaml,
// is enough and each of its capabilities is needed: BPF and PERFMON to load and attach the
// programs, SYS_PTRACE and DAC_READ_SEARCH for the search for hard links through a container's
// root (a process with a container runtime's default capabilities, chrooted into a small root). Processes run as root (as the DaemonSet's
// container does) with only those capabilities, through setpriv: the bounding set limited to
// them, no inheritable or ambient ones, no_new_privs (allowPrivilegeEscalation: false). A
// container runtime gives the container's root the same effective set.
//
// Self-contained on purpose: it uses only the harness's stable scenario API and the CLI.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scenario, type ScenarioBoot, type ScenarioContext } from '../../vm/guest/scenario.ts';
import { LINK_SEARCH_CAPABILITIES, daemonSetCapabilities, withCapabilities } from './capabilities-support.ts';

type Probe = { canEnforce: boolean; attachMode: string; lsm: { programsLoad: boolean; detail: string } };

async function probe(ctx: ScenarioContext, caps: readonly string[]): Promise<Probe> {
  const r = await ctx.runIn(null, [...withCapabilities(caps), process.execPath, join(ctx.root, 'bin/armorgate.js'), 'probe', '--json'], { timeoutMs: 120_000 });
  assert.ok(r.stdout.trim().startsWith('{'), `probe with ${caps.join('+') || 'no capability'}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout) as Probe;
}

// one boot: kernel 6.12 (UEK8's base), where both BPF_LSM_CGROUP and BPF_LSM_MAC exist
const CAPS_BOOT: ScenarioBoot[] = [{ kernel: '6.12', attachMode: 'cgroup' }];

scenario('capabilities: root with only the DaemonSet\'s capabilities can load and attach LSM programs', async (ctx) => {
  const caps = daemonSetCapabilities(ctx.root);
  const status = await ctx.runIn(null, [...withCapabilities(caps), '/usr/bin/grep', '^CapEff', '/proc/self/status']);
  ctx.log(`${caps.join('+')}: ${status.stdout.trim()}`);
  const p = await probe(ctx, caps);
  ctx.log(`probe: canEnforce=${p.canEnforce} attachMode=${p.attachMode} ${p.lsm.detail}`);
  assert.equal(p.canEnforce, true, `with ${caps.join('+')}: ${JSON.stringify(p)}`);
  // both attach paths: BPF_LSM_CGROUP (kernels >= 6.0) and BPF_LSM_MAC (5.11-5.19, UEK7)
  assert.match(p.lsm.detail, /BPF_LSM_CGROUP attach works/);
  assert.match(p.lsm.detail, /BPF_LSM_MAC attach works/);
}, { timeoutMs: 180_000, on: CAPS_BOOT });

scenario('capabilities: each capability of the DaemonSet that loads and attaches is needed', async (ctx) => {
  const caps = daemonSetCapabilities(ctx.root);
  for (const dropped of caps.filter((c) => !LINK_SEARCH_CAPABILITIES.includes(c))) {
    const rest = caps.filter((c) => c !== dropped);
    const p = await probe(ctx, rest);
    ctx.log(`without ${dropped}: canEnforce=${p.canEnforce} ${p.lsm.detail}`);
    assert.equal(p.canEnforce, false, `without CAP_${dropped} the enforcer could still enforce: CAP_${dropped} is not needed`);
  }
}, { timeoutMs: 240_000, on: CAPS_BOOT });

// a container runtime's default capabilities (containerd's and runc's spec default)
const CONTAINER_CAPS = ['chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap', 'net_bind_service', 'sys_chroot', 'kill', 'audit_write'];

scenario('capabilities: with the DaemonSet\'s set the hard-link search sees a container\'s root and every directory in it; without SYS_PTRACE or DAC_READ_SEARCH it does not', async (ctx) => {
  const caps = daemonSetCapabilities(ctx.root);
  for (const c of LINK_SEARCH_CAPABILITIES) assert.ok(caps.includes(c), `the DaemonSet adds ${c}`);
  // a container's root: busybox, a protected file, and a second name for it in a directory only
  // its owner (uid 1000) may list
  const root = join(ctx.tmp, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  mkdirSync(join(root, 'srv/secret'), { recursive: true });
  writeFileSync(join(root, 'srv/secret/key'), 'key\n');
  mkdirSync(join(root, 'home/u'), { recursive: true, mode: 0o700 });
  chownSync(join(root, 'home/u'), 1000, 1000);
  chmodSync(join(root, 'home/u'), 0o700);
  linkSync(join(root, 'srv/secret/key'), join(root, 'home/u/copy'));
  // its process: root with the runtime's default capabilities, in its own root, in a pod's cgroup
  const cg = await ctx.mkCgroup(`kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${randomUUID().replaceAll('-', '_')}.slice/cri-containerd-${'c'.repeat(64)}.scope`);
  const set = ['-all', ...CONTAINER_CAPS.map((c) => `+${c}`)].join(',');
  const sleeper = ctx.startIn(cg, ['/usr/bin/setpriv', `--bounding-set=${set}`, '--', '/usr/sbin/chroot', root, '/bin/busybox', 'sleep', '600'], { timeoutMs: 300_000 });
  ctx.defer(() => { sleeper.kill('SIGKILL'); });
  const t0 = Date.now();
  while (!/^\d+/.test(readFileSync(join(cg.path, 'cgroup.procs'), 'utf8')) || !readFileSync(`/proc/${readFileSync(join(cg.path, 'cgroup.procs'), 'utf8').trim().split('\n')[0]}/cmdline`, 'utf8').includes('sleep')) {
    if (Date.now() - t0 > 20_000) throw new Error('the container\'s process never started');
    await new Promise((r) => setTimeout(r, 100));
  }
  // the search as the enforcer runs it (enforcer/hardlinks.ts), in a process with these capabilities
  const script = join(ctx.tmp, 'search.mts');
  writeFileSync(script, [
    `import { podProfileWithLinks } from ${JSON.stringify(join(ctx.root, 'enforcer/hardlinks.ts'))};`,
    'const rule = { action: "Block", target: { type: "path", path: "/srv/secret/key" }, readOnly: false, ownerOnly: false, fromSource: "", containers: [], policies: ["t/p"], severity: 0, tags: [], message: "" };',
    'const profile = { version: 1, posture: { process: "audit", file: "audit", network: "audit", capabilities: "audit" }, process: [], file: [rule], network: [], capabilities: [] };',
    `const r = podProfileWithLinks(profile as never, [{ name: "main", cgroupPath: ${JSON.stringify(cg.path)} }]);`,
    'console.log(JSON.stringify({ unreachable: r.unreachable, names: r.profile.file.map((x) => x.target.type === "path" ? x.target.path : "") }));',
  ].join('\n'));
  const search = async (with_: readonly string[]): Promise<{ unreachable: string[]; names: string[] }> => {
    const r = await ctx.runIn(null, [...withCapabilities(with_), process.execPath, script], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `the search with ${with_.join('+')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as { unreachable: string[]; names: string[] };
  };
  const all = await search(caps);
  ctx.log(`with ${caps.join('+')}: ${JSON.stringify(all)}`);
  assert.deepEqual(all.unreachable, [], 'the container\'s root is in reach');
  assert.ok(all.names.includes('/home/u/copy'), `the second name found: ${JSON.stringify(all.names)}`);
  const noPtrace = await search(caps.filter((c) => c !== 'SYS_PTRACE'));
  ctx.log(`without SYS_PTRACE: ${JSON.stringify(noPtrace)}`);
  assert.deepEqual(noPtrace.unreachable, ['main'], 'without SYS_PTRACE the container\'s root is out of reach');
  const noDac = await search(caps.filter((c) => c !== 'DAC_READ_SEARCH'));
  ctx.log(`without DAC_READ_SEARCH: ${JSON.stringify(noDac)}`);
  assert.deepEqual(noDac.unreachable, []);
  assert.ok(!noDac.names.includes('/home/u/copy'), 'without DAC_READ_SEARCH the owner-only directory is not listed');
}, { timeoutMs: 240_000, on: CAPS_BOOT });
