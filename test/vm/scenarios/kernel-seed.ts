// Guest suite: the seed's cases, with the real KubeArmor policies of examples/ compiled
// by the policy core for examples/pod.yaml in examples/namespace.yaml.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile } from '../../../policy/compile.ts';
import { parseDocuments } from '../../../policy/parse.ts';
import { validatePolicy } from '../../../policy/validate.ts';
import type { Namespace, Pod, Policy, Profile } from '../../../policy/types.ts';
import { scenario, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import { podWith, py, type TestPod } from './kernel-helpers.ts';

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

/** A pod (container "web" of examples/pod.yaml) with the compiled example profile. */
function webPod(ctx: ScenarioContext): Promise<TestPod> {
  const uid = randomUUID();
  return podWith(ctx, examplesProfile(ctx.root, uid), { uid, containers: ['web', 'log-shipper'], tellCgroup: true });
}

scenario('seed: only /usr/bin/cat may read the service-account token', async (ctx) => {
  const pod = await webPod(ctx);
  const dir = '/run/secrets/kubernetes.io/serviceaccount';
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), 'eyJhbGciOi.token\n');
  ctx.defer(() => { writeFileSync(join(dir, 'token'), ''); });
  const cat = await ctx.runIn(pod.cg, ['/usr/bin/cat', '/var/run/secrets/kubernetes.io/serviceaccount/token']);
  assert.equal(cat.code, 0, `cat reads the token: ${cat.stderr}`);
  assert.match(cat.stdout, /token/);
  const head = await ctx.runIn(pod.cg, ['/usr/bin/head', '/var/run/secrets/kubernetes.io/serviceaccount/token']);
  assert.notEqual(head.code, 0, 'head may not');
  const pyr = await ctx.runIn(pod.cg, py(`open("${dir}/token").read()`));
  assert.notEqual(pyr.code, 0, 'python may not');
  const e = await pod.waitEvent((x) => x.denied && x.target === `${dir}/token`);
  assert.equal(e.rule?.policies[0], 'shop/service-account-token-one-reader');
  assert.equal((await ctx.runIn(null, ['/usr/bin/head', `${dir}/token`])).code, 0, 'outside the pod anyone reads it');
});

scenario('seed: trust stores cannot be changed while reads work', async (ctx) => {
  const pod = await webPod(ctx);
  await ctx.mountTmpfs('/etc/ssl', { keepContents: true });
  await ctx.mountTmpfs('/etc/pki');
  await ctx.mountTmpfs('/usr/local/share/ca-certificates');
  for (const d of ['/etc/ssl', '/etc/pki', '/usr/local/share/ca-certificates']) {
    writeFileSync(join(d, 'seed.crt'), 'CERT\n');
    const script = `
import os, json, errno
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
print(json.dumps(r))
`;
    const r = await ctx.runIn(pod.cg, py(script));
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(r.stdout) as Record<string, string>;
    assert.deepEqual(res, { read: 'ok', create: 'EPERM', modify: 'EPERM', remove: 'EPERM', rename: 'EPERM', mkdir: 'EPERM', chmod: 'EPERM' }, d);
  }
  const outside = await ctx.runIn(null, ['/usr/bin/touch', '/etc/ssl/outside.crt']);
  assert.equal(outside.code, 0, 'outside the pod the store is writable');
});

scenario('seed: apt, apt-get and dpkg may not run', async (ctx) => {
  const pod = await webPod(ctx);
  for (const bin of ['/usr/bin/apt', '/usr/bin/apt-get', '/usr/bin/dpkg']) {
    const r = await ctx.runIn(pod.cg, [bin, '--version']);
    assert.notEqual(r.code, 0, `${bin} must not run`);
    assert.equal((await ctx.runIn(null, [bin, '--version'])).code, 0, `${bin} runs outside the pod`);
  }
  const e = await pod.waitEvent((x) => x.hook === 'exec' && x.denied && x.target === '/usr/bin/dpkg');
  assert.equal(e.rule?.target.type, 'execname');
});

scenario('seed: raw sockets are refused', async (ctx) => {
  const pod = await webPod(ctx);
  const r = await ctx.runIn(pod.cg, py('import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /PermissionError|Operation not permitted/);
  const tcp = await ctx.runIn(pod.cg, py('import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM)'));
  assert.equal(tcp.code, 0, tcp.stderr);
});
