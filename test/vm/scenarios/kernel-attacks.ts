// Guest suite: the attacks of issue 15's bypass list that need a cgroup a container runtime would
// not make (nested 12 deep, named like another pod) or a second pod of another posture; the rest
// run as root in real containers (container-attacks.ts). Every scenario runs the attack outside any
// pod first (the control: it must work there, so a broken attack can never pass as "denied"), then
// inside the pod, where it is denied with EPERM and reported as a Block event.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Cgroup, ScenarioContext } from '../../../vm/guest/scenario.ts';
import { ONE_BOOT_PER_KERNEL, scenario } from '../../../vm/guest/scenario.ts';
import { podWith, profile, py, rule, type TestPod } from '../../../vm/guest/kit/kernel.ts';

/** Runs a python snippet that prints one JSON object of results. */
async function pyJson(ctx: ScenarioContext, cg: Cgroup | null, code: string, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const r = await ctx.runIn(cg, py(code), { env });
  assert.equal(r.code, 0, `python failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

const TRY = `
import os, json, errno, socket, sys
r = {}
def t(name, fn):
    try:
        fn(); r[name] = 'ok'
    except OSError as e:
        r[name] = errno.errorcode.get(e.errno, str(e.errno))
`;

async function blocked(pod: TestPod, hook: string, target?: RegExp): Promise<void> {
  const e = await pod.waitEvent((x) => x.hook === hook && x.denied && (target === undefined || target.test(x.target)));
  assert.equal(e.action, 'Block');
}

scenario('attack: nested cgroups, cgroups named like another pod and unknown container scopes stay in the pod', async (ctx) => {
  await ctx.mountTmpfs('/srv');
  writeFileSync('/srv/secret', 's\n');
  const code = `${TRY}
t('read', lambda: open('/srv/secret').read())
print(json.dumps(r))
`;
  assert.deepEqual(await pyJson(ctx, null, code), { read: 'ok' }, 'control');
  const pod = await podWith(ctx, profile({ file: [rule('Block', { type: 'path', path: '/srv/secret' }, { containers: ['main'] })] }), { containers: ['main', 'side'], tellCgroup: true });
  const rel = pod.cg.path.replace(/^\/sys\/fs\/cgroup\//, '');
  // deeper than any fixed walk (the old resolver looked 8 levels up)
  let deep = rel;
  for (let i = 0; i < 12; i++) deep += `/n${i}`;
  const d = await ctx.mkCgroup(deep);
  assert.deepEqual(await pyJson(ctx, d, code), { read: 'EPERM' }, '12 levels below the container');
  // a child named like another pod's cgroup (systemd and cgroupfs spellings)
  const other = 'kubepods-besteffort-pod00000000_0000_4000_8000_000000000000.slice';
  const f1 = await ctx.mkCgroup(`${rel}/${other}`);
  assert.deepEqual(await pyJson(ctx, f1, code), { read: 'EPERM' }, 'child named like another pod (systemd)');
  const f2 = await ctx.mkCgroup(`${rel}/pod00000000-0000-4000-8000-000000000000`);
  assert.deepEqual(await pyJson(ctx, f2, code), { read: 'EPERM' }, 'child named like another pod (cgroupfs)');
  // a container scope nobody told the enforcer about (a restart): the pod's containers are all
  // known, so it gets every container's rules, 'main''s Block among them
  const podRel = rel.replace(/\/[^/]+$/, '');
  const side = await ctx.mkCgroup(`${podRel}/cri-containerd-side.scope`);
  const sideSet = pod.kernel.setPod({ uid: pod.uid, namespace: 'test', name: 'pod', profile: profile({ file: [rule('Block', { type: 'path', path: '/srv/secret' }, { containers: ['main'] })] }), containers: [{ name: 'main', cgroupId: pod.cg.id }, { name: 'side', cgroupId: side.id }] });
  assert.ok(sideSet.ok);
  assert.deepEqual(await pyJson(ctx, side, code), { read: 'ok' }, 'the told sidecar is not main');
  const restarted = await ctx.mkCgroup(`${podRel}/cri-containerd-restarted.scope`);
  assert.deepEqual(await pyJson(ctx, restarted, code), { read: 'EPERM' }, 'an unknown scope of a pod whose containers are all known');
  await blocked(pod, 'open', /^\/srv\/secret$/);
});

scenario('attack: socket families with no protocol rule of their own follow a network allow-list (unix sockets are not network)', async (ctx) => {
  const code = `${TRY}
t('tcp', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
t('mptcp', lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262).close())
t('packet-raw', lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close())
t('netlink', lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close())
t('unix', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
print(json.dumps(r))
`;
  assert.deepEqual(await pyJson(ctx, null, code), { tcp: 'ok', mptcp: 'ok', 'packet-raw': 'ok', netlink: 'ok', unix: 'ok' }, 'control: every socket opens outside a pod');
  const allow = await podWith(ctx, profile({ network: [rule('Allow', { type: 'protocol', protocol: 'tcp' })] }, { network: 'block' }));
  const a = await pyJson(ctx, allow.cg, code);
  ctx.log(JSON.stringify(a));
  assert.deepEqual(a, { tcp: 'ok', mptcp: 'ok', 'packet-raw': 'EPERM', netlink: 'EPERM', unix: 'ok' }, 'MPTCP is tcp; a family with no protocol rule of its own gets the posture');
  await blocked(allow, 'socket');
// what the socket hook decides is the same code in both attach modes: each kernel once (the
// container suite's socket attack runs on every boot)
}, { on: ONE_BOOT_PER_KERNEL });
