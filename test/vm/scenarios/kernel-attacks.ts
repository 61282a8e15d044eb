// Guest suite: the one attack of issue 15's bypass list that needs a pod of another posture than the
// container attacks' (a network allow-list under a block posture); the rest run as root in real
// containers (container-attacks.ts). The attack runs outside any pod first (the control: it must
// work there, so a broken attack can never pass as "denied"), then inside the pod, where it is
// denied with EPERM and reported as a Block event.
import assert from 'node:assert/strict';
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
