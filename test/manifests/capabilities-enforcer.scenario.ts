// Guest suite (VM): the real `armorgate enforcer`, run as root with only the DaemonSet's
// capabilities (see capabilities.scenario.ts), enforces a signed pod and reports the block.
// Self-contained on purpose: it uses only the harness's stable scenario API and the CLI
// (`armorgate profile --output pod` makes the signed pod, as the gateway would).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { scenario, type ScenarioBoot, type ScenarioContext, type Started } from '../../vm/guest/scenario.ts';
import { daemonSetCapabilities, withCapabilities } from './capabilities-support.ts';

type Any = Record<string, unknown>;
const BURSTABLE = 'kubepods.slice/kubepods-burstable.slice';

type Node = { keyFile: string; podsDir: string; pinDir: string };
type SignedPod = { uid: string; webCgroup: string };

/** Signing key, pods folder, a pin folder of its own (removed after), the kubepods hierarchy. */
async function node(ctx: ScenarioContext): Promise<Node> {
  const keyFile = join(ctx.tmp, 'signing.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const podsDir = join(ctx.tmp, 'pods');
  mkdirSync(podsDir);
  if (!existsSync(`/sys/fs/cgroup/${BURSTABLE}`)) await ctx.mkCgroup(BURSTABLE);
  const pinDir = `/sys/fs/bpf/ag-caps-${randomBytes(4).toString('hex')}`;
  ctx.defer(async () => { await ctx.runIn(null, [process.execPath, join(ctx.root, 'bin/armorgate.js'), 'enforcer', '--cleanup', '--pin-dir', pinDir]); });
  return { keyFile, podsDir, pinDir };
}

/** examples/pod.yaml with a UID and containerd container IDs, signed with examples/policies
 *  by `armorgate profile --output pod` into the pods folder. */
async function signedPod(ctx: ScenarioContext, n: Node): Promise<SignedPod> {
  const uid = randomUUID();
  const pod = parse(readFileSync(join(ctx.root, 'examples/pod.yaml'), 'utf8')) as Any & { metadata: Any; spec: { containers: { name: string }[] } };
  const ids = Object.fromEntries(pod.spec.containers.map((c) => [c.name, randomBytes(32).toString('hex')]));
  pod.metadata = { ...pod.metadata, uid };
  pod.status = { phase: 'Running', qosClass: 'Burstable', containerStatuses: Object.entries(ids).map(([name, id]) => ({ name, containerID: `containerd://${id}` })) };
  const input = join(ctx.tmp, 'pod.input.json');
  writeFileSync(input, JSON.stringify(pod));
  const r = await ctx.runIn(null, [
    process.execPath, join(ctx.root, 'bin/armorgate.js'), 'profile', '--pod', input, '--policies', join(ctx.root, 'examples/policies'),
    '--namespace', join(ctx.root, 'examples/namespace.yaml'), '--signing-key-file', n.keyFile, '--output', 'pod',
  ], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `armorgate profile: ${r.stderr}`);
  writeFileSync(join(n.podsDir, `${uid}.json`), r.stdout);
  const web = ids.web ?? Object.values(ids)[0];
  return { uid, webCgroup: `${BURSTABLE}/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${web}.scope` };
}

// one boot: kernel 6.12 (UEK8's base), where both BPF_LSM_CGROUP and BPF_LSM_MAC exist
const CAPS_BOOT: ScenarioBoot[] = [{ kernel: '6.12', attachMode: 'cgroup' }];

scenario('capabilities: the enforcer with only the DaemonSet\'s capabilities enforces a pod and reports the block', async (ctx) => {
  const caps = daemonSetCapabilities(ctx.root);
  const n = await node(ctx);
  const pod = await signedPod(ctx, n);
  // Debian's kernels (this VM's) default to kernel.perf_event_paranoid=3, a Debian patch under
  // which perf_event_open(2), and so the classic tracepoints the enforcer attaches, needs
  // CAP_SYS_ADMIN; upstream and Oracle's UEK stop at 2, where CAP_PERFMON is enough. Model an
  // OKE node (docs/install.md says what to set on nodes with level 3).
  const PARANOID = '/proc/sys/kernel/perf_event_paranoid';
  const paranoid = readFileSync(PARANOID, 'utf8').trim();
  if (Number(paranoid) > 2) {
    writeFileSync(PARANOID, '2');
    ctx.defer(() => { writeFileSync(PARANOID, paranoid); });
    ctx.log(`kernel.perf_event_paranoid ${paranoid} -> 2 for this scenario`);
  }
  // a node mounts tracefs at /sys/kernel/tracing and the DaemonSet maps it in (docs/install.md);
  // the enforcer, without CAP_SYS_ADMIN, cannot mount it itself
  if (!existsSync('/sys/kernel/tracing/events')) {
    const m = await ctx.runIn(null, ['/usr/bin/mount', '-t', 'tracefs', 'tracefs', '/sys/kernel/tracing']);
    assert.equal(m.code, 0, `mount tracefs: ${m.stderr}`);
    ctx.defer(async () => { await ctx.runIn(null, ['/usr/bin/umount', '/sys/kernel/tracing']); });
  }
  const proc: Started = ctx.startIn(null, [
    ...withCapabilities(caps), process.execPath, join(ctx.root, 'bin/armorgate.js'), 'enforcer',
    '--signing-key-file', n.keyFile, '--pods-dir', n.podsDir, '--pin-dir', n.pinDir,
    '--attach-mode', ctx.attachMode, '--node-name', 'vm-node', '--sweep-interval', '1',
  ], { timeoutMs: 600_000, env: { OTEL_SDK_DISABLED: 'true' } });
  let out = '', err = '';
  proc.child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  proc.child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  const logs = (): Any[] => err.split('\n').flatMap((l) => { try { return [JSON.parse(l) as Any]; } catch { return []; } });
  const waitFor = async (what: string, pred: () => boolean, ms: number): Promise<void> => {
    const t0 = Date.now();
    let exited = false;
    void proc.done.then(() => { exited = true; });
    while (!pred()) {
      if (exited) throw new Error(`enforcer exited while waiting for ${what}:\n${err.slice(-3000)}`);
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}:\n${err.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor('"ready"', () => logs().some((l) => l.msg === 'ready'), 120_000);
  assert.equal(logs().find((l) => l.msg === 'ready')?.mode, ctx.attachMode, 'the attach mode asked for');
  await waitFor('the pod enforced', () => logs().some((l) => l.msg === 'pod enforced' && l.uid === pod.uid), 60_000);
  // kubelet and containerd create the pod's and the container's cgroups
  const web = await ctx.mkCgroup(pod.webCgroup);
  const dpkg = await ctx.runIn(web, ['/usr/bin/dpkg', '--version']);
  assert.ok(dpkg.code !== 0 && /Operation not permitted|Permission denied/.test(dpkg.stderr), `dpkg in the pod: ${dpkg.code} ${dpkg.stderr}`);
  assert.equal((await ctx.runIn(null, ['/usr/bin/dpkg', '--version'])).code, 0, 'dpkg outside the pod');
  await waitFor('the Block alert on stdout', () => out.split('\n').some((l) => l.includes('"Resource":"/usr/bin/dpkg"') && l.includes('"Action":"Block"')), 20_000);
  proc.kill('SIGTERM');
  const done = await proc.done;
  assert.equal(done.code, 0, `clean exit on SIGTERM: ${err.slice(-2000)}`);
}, { timeoutMs: 240_000, on: CAPS_BOOT });
