// Guest suite: the seed's cases, with the real KubeArmor policies of examples/ compiled
// by the policy core for examples/pod.yaml in examples/namespace.yaml, run in real runc containers
// (ctx.container: overlay root, pivot_root, containerd's capabilities, kubelet's systemd-driver
// cgroup): the pod's "web" and "log-shipper" containers, and a control container outside every pod
// for "the same thing outside any pod works". The boot needs containers (test/vm/kernel.test.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../../policy/compile.ts';
import { parseDocuments } from '../../../policy/parse.ts';
import { validatePolicy } from '../../../policy/validate.ts';
import type { Namespace, Pod, Policy, Profile } from '../../../policy/types.ts';
import { ONE_BOOT_PER_KERNEL_CROSSED, scenario, type Container, type ContainerOptions, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import { EPERM_RE, loadPod, py, type LoadedPod } from '../../../vm/guest/kit/kernel.ts';

function examplesProfile(root: string, uid: string): Profile {
  const one = (f: string): unknown => parseDocuments(readFileSync(join(root, 'examples', f), 'utf8'))[0]!.value;
  const pod = one('pod.yaml') as Pod;
  pod.metadata = { ...pod.metadata, uid };
  const ns = one('namespace.yaml') as Namespace;
  const policies: Policy[] = [];
  for (const f of readdirSync(join(root, 'examples', 'policies')).sort()) {
    for (const d of parseDocuments(readFileSync(join(root, 'examples', 'policies', f), 'utf8'))) {
      const v = validatePolicy(d.value);
      assert.ok(v.policy, `${f}: ${JSON.stringify(v.problems)}`);
      policies.push(v.policy);
    }
  }
  const r = compile(pod, ns, policies, { defaultPosture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' }, signingKey: null });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.ok(r.value.profile, 'a profile');
  assert.equal(r.value.bound.length, 4, `all four example policies bind: ${r.value.bound.join(', ')}`);
  return r.value.profile;
}

const TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** where the token is as the kernel sees it: /var/run is a symlink to /run in Debian's root */
const TOKEN_REAL = '/run/secrets/kubernetes.io/serviceaccount/token';
const TRUST_STORES = ['/etc/ssl', '/etc/pki', '/usr/local/share/ca-certificates'];

interface SeedPod {
  pod: LoadedPod;
  web: Container;
  sidecar: Container;
  /** a container outside every pod, with the same volumes and files */
  control: Container;
}

/**
 * The pod of examples/pod.yaml with the compiled example profile, put in force by UID before its
 * containers exist (as the enforcer learns it from the API), then its containers "web" and
 * "log-shipper" started by runc with the service-account token volume and seed certificates in
 * their roots; the kernel is then told which cgroup is "web" (the enforcer learns it from the pod's
 * containerStatuses), since the token rule selects that container only.
 */
async function seedPod(ctx: ScenarioContext): Promise<SeedPod> {
  const uid = randomUUID();
  const p = examplesProfile(ctx.root, uid);
  const pod = await loadPod(ctx, p, { uid, containers: ['web', 'log-shipper'] });
  const volumes: ContainerOptions = {
    tmpfs: [{ target: TOKEN_DIR, files: { token: 'eyJhbGciOi.token\n' } }],
    files: Object.fromEntries(TRUST_STORES.map((d) => [`${d}/seed.crt`, 'CERT\n'])),
  };
  const web = await ctx.container({ pod: { uid }, driver: 'systemd', ...volumes });
  const sidecar = await ctx.container({ pod: { uid }, driver: 'systemd', ...volumes });
  const control = await ctx.container(volumes);
  const told = pod.kernel.setPod({ uid, namespace: 'shop', name: 'web', profile: p, containers: [{ name: 'web', cgroupId: web.cgroup.id }, { name: 'log-shipper', cgroupId: sidecar.cgroup.id }] });
  if (!told.ok) throw new Error(`setPod: ${told.error.message}`);
  return { pod, web, sidecar, control };
}

// The seed's rules are what the programs decide, the same code in both attach modes: each kernel
// once (the attacks, the containers' basics and the enforcer suite cover both modes on both); the
// crossed boots, as the kernel suite's 6.12 cgroup boot carries the DaemonSet's capabilities
const SEED_BOOTS = { on: ONE_BOOT_PER_KERNEL_CROSSED };

scenario('seed: only /usr/bin/cat may read the service-account token', async (ctx) => {
  const { pod, web, sidecar, control } = await seedPod(ctx);
  const cat = await web.exec(['/usr/bin/cat', `${TOKEN_DIR}/token`]);
  assert.equal(cat.code, 0, `cat reads the token: ${cat.stderr}`);
  assert.match(cat.stdout, /token/);
  const head = await web.exec(['/usr/bin/head', `${TOKEN_DIR}/token`]);
  assert.notEqual(head.code, 0, 'head may not');
  assert.match(head.stderr, EPERM_RE);
  const pyr = await web.exec(py(`open("${TOKEN_DIR}/token").read()`));
  assert.notEqual(pyr.code, 0, 'python may not');
  assert.match(pyr.stderr, /PermissionError: \[Errno 1\]/);
  const e = await pod.waitEvent((x) => x.denied && x.target === TOKEN_REAL);
  assert.equal(e.rule?.policies[0], 'shop/service-account-token-one-reader');
  assert.equal((await sidecar.exec(['/usr/bin/head', `${TOKEN_DIR}/token`])).code, 0, 'the rule selects container web only');
  assert.equal((await control.exec(['/usr/bin/head', `${TOKEN_DIR}/token`])).code, 0, 'outside the pod anyone reads it');
}, SEED_BOOTS);

/** python3-minimal has no json module: the script prints name=outcome lines */
function outcomes(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

scenario('seed: trust stores cannot be changed while reads work', async (ctx) => {
  const { web, control } = await seedPod(ctx);
  for (const d of TRUST_STORES) {
    const script = `
import os, errno
d = ${JSON.stringify(d)}
r = {}
def t(n, f):
    try:
        f(); r[n] = 'ok'
    except OSError as e:
        r[n] = errno.errorcode.get(e.errno, str(e.errno))
t('read', lambda: open(d + '/seed.crt').read())
t('create', lambda: open(d + '/evil.crt', 'w').close())
t('modify', lambda: open(d + '/seed.crt', 'a').write('x'))
t('remove', lambda: os.unlink(d + '/seed.crt'))
t('rename', lambda: os.rename(d + '/seed.crt', d + '/other.crt'))
t('mkdir', lambda: os.mkdir(d + '/sub'))
t('chmod', lambda: os.chmod(d + '/seed.crt', 0o666))
for k, v in r.items(): print(k + '=' + v)
`;
    const r = await web.exec(py(script));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(outcomes(r.stdout), { read: 'ok', create: 'EPERM', modify: 'EPERM', remove: 'EPERM', rename: 'EPERM', mkdir: 'EPERM', chmod: 'EPERM' }, d);
    const ctl = await control.exec(py(script));
    // outside the pod every change goes through (rename and chmod find the file removed just before)
    assert.deepEqual(outcomes(ctl.stdout), { read: 'ok', create: 'ok', modify: 'ok', remove: 'ok', rename: 'ENOENT', mkdir: 'ok', chmod: 'ENOENT' }, `${d} outside the pod: ${ctl.stderr}`);
  }
}, SEED_BOOTS);

scenario('seed: apt, apt-get and dpkg may not run', async (ctx) => {
  const { pod, web, sidecar, control } = await seedPod(ctx);
  for (const bin of ['/usr/bin/apt', '/usr/bin/apt-get', '/usr/bin/dpkg']) {
    const direct = await web.exec([bin, '--version']);
    assert.notEqual(direct.code, 0, `${bin} must not run (runc exec)`);
    assert.match(direct.stderr, /operation not permitted/i);
    const viaShell = await sidecar.exec(['/bin/sh', '-c', `${bin} --version`]);
    assert.equal(viaShell.code, 126, `${bin} must not run from a shell in the sidecar either: ${viaShell.stderr}`);
    assert.equal((await control.exec([bin, '--version'])).code, 0, `${bin} runs outside the pod`);
  }
  const e = await pod.waitEvent((x) => x.hook === 'exec' && x.denied && x.target === '/usr/bin/dpkg');
  assert.equal(e.rule?.target.type, 'execname');
}, SEED_BOOTS);

scenario('seed: raw sockets are refused', async (ctx) => {
  const { web, control } = await seedPod(ctx);
  const raw = py('import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)');
  const r = await web.exec(raw);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /PermissionError|Operation not permitted/);
  const tcp = await web.exec(py('import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM)'));
  assert.equal(tcp.code, 0, tcp.stderr);
  const ctl = await control.exec(raw);
  assert.equal(ctl.code, 0, `CAP_NET_RAW in the default set: raw sockets work outside the pod: ${ctl.stderr}`);
}, SEED_BOOTS);
