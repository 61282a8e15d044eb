// KubeArmor's gRPC API and visibility logs end to end, in the VM: the real `armorgate enforcer`
// (gRPC on KubeArmor's port 32767, its default), a gRPC client built in this test from the .proto
// of KubeArmor's published contract, watching with Filter "all" as `karmor logs` does. In a pod of
// a namespace with `kubearmor-visibility: process,file` a blocked exec, a blocked raw socket and an
// audited open become Alerts; what went ahead unannounced becomes Logs; a pod of a namespace
// without the annotation gets none.
import assert from 'node:assert/strict';
import { ONE_BOOT_PER_KERNEL, scenario, type Cgroup } from '../../../vm/guest/scenario.ts';
import { deniedExec, fixture, sharedEnforcer } from '../../../vm/guest/kit/enforcer.ts';
import { compileIn, enforceWithApp, logClient, type Rec } from '../../../vm/guest/kit/visibility.ts';

scenario('enforcer: KubeArmor\'s gRPC WatchAlerts/WatchLogs (Filter all) get the pod\'s alerts, and visibility logs only where the namespace asks', async (ctx) => {
  const fx = await fixture(ctx);
  const on = await compileIn(ctx, fx, 'vis-on', 'process,file');
  const off = await compileIn(ctx, fx, 'vis-off', null);
  assert.match(JSON.stringify(on.manifest.metadata?.annotations ?? {}), /\\"visibility\\":\[\\"file\\",\\"process\\"\]/, 'the signed profile carries the visibility');
  const e = await sharedEnforcer(ctx);

  // the client: from the proto of KubeArmor's contract (package feeder, service LogService)
  const client = logClient(ctx);
  ctx.defer(() => client.close());
  const alerts: Rec[] = [];
  const logs: Rec[] = [];
  const wa = client.WatchAlerts!({ Filter: 'all' });
  const wl = client.WatchLogs!({ Filter: 'all' });
  wa.on('data', (d: Rec) => alerts.push(d));
  wl.on('data', (d: Rec) => logs.push(d));
  wa.on('error', () => {});
  wl.on('error', () => {});
  ctx.defer(() => { wa.cancel(); wl.cancel(); });
  await e.waitLog((l) => l.msg === 'gRPC watcher added' && l.rpc === 'WatchLogs', 'the gRPC watchers');

  const [cgOn, cgOff] = await enforceWithApp(ctx, fx, e, [on, off]) as [Cgroup, Cgroup];

  // the pod without visibility acts first: had it produced logs, they would be in the ring buffer before the other pod's
  assert.equal((await ctx.runIn(cgOff, ['/usr/bin/cat', '/etc/hostname'])).code, 0, 'cat in the pod without visibility');
  // controls: outside any pod all of it works
  assert.equal((await ctx.runIn(null, ['/usr/bin/dpkg', '--version'])).code, 0, 'dpkg outside the pod');
  const rawPy = ['/usr/bin/python3', '-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()'];
  assert.equal((await ctx.runIn(null, rawPy)).code, 0, 'a raw socket outside the pod');
  // in the pod: a blocked exec, a blocked raw socket, an audited open
  assert.ok(deniedExec(await ctx.runIn(cgOn, ['/usr/bin/dpkg', '--version'])), 'dpkg in the pod is refused');
  const raw = await ctx.runIn(cgOn, rawPy);
  assert.notEqual(raw.code, 0, 'a raw socket in the pod is refused');
  assert.match(raw.stderr, /PermissionError|Operation not permitted/);
  const cat = await ctx.runIn(cgOn, ['/usr/bin/cat', '/etc/hostname']);
  assert.equal(cat.code, 0, `the audited open goes ahead: ${cat.stderr}`);

  const until = async (find: () => Rec | undefined, what: string): Promise<Rec> => {
    for (let i = 0; i < 1000; i++) {
      const v = find();
      if (v !== undefined) return v;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no ${what} over gRPC; alerts: ${JSON.stringify(alerts.slice(-5)).slice(0, 1500)} logs: ${logs.length}`);
  };
  const exec = await until(() => alerts.find((a) => a.PodName === on.name && a.Operation === 'Process' && a.Resource === '/usr/bin/dpkg'), 'dpkg alert');
  const want: Rec = {
    ClusterName: 'vm-cluster', HostName: 'vm-node', NamespaceName: 'vis-on', PodName: on.name, Labels: 'app=watched',
    ContainerID: on.containerIds.app, ContainerName: 'app', PolicyName: 'watched', Severity: '4', Tags: 'visibility-test',
    Message: 'watched access', Type: 'MatchedPolicy', Enforcer: 'BPFLSM', Action: 'Block', Result: 'Permission denied', Data: 'lsm=SECURITY_BPRM_CHECK',
  };
  for (const [k, v] of Object.entries(want)) assert.deepEqual(exec[k], v, `exec alert ${k}`);
  assert.deepEqual(exec.ATags, ['visibility-test']);
  assert.ok(typeof exec.Timestamp === 'number' && Math.abs(exec.Timestamp - Date.now() / 1000) < 300, 'Timestamp');
  assert.ok((exec.HostPID as number) > 0 && exec.PID === exec.HostPID, 'pids');
  const sock = await until(() => alerts.find((a) => a.PodName === on.name && a.Operation === 'Network'), 'raw socket alert');
  assert.equal(sock.Resource, 'domain=AF_INET type=SOCK_RAW protocol=ICMP');
  assert.equal(sock.Data, 'lsm=SOCKET_CREATE domain=AF_INET type=SOCK_RAW protocol=ICMP');
  assert.deepEqual(sock.EventData, { lsm: 'SOCKET_CREATE', domain: 'AF_INET', type: 'SOCK_RAW', protocol: 'ICMP' });
  const open = await until(() => alerts.find((a) => a.PodName === on.name && a.Operation === 'File' && a.Resource === '/etc/hostname'), 'audited open alert');
  assert.equal(open.Action, 'Audit');
  assert.equal(open.Result, 'Passed');
  assert.equal(open.Data, 'lsm=FILE_OPEN');

  // logs: the exec of cat (process) and its opens (file), none for the audited open itself (an alert told of it)
  const execLog = await until(() => logs.find((l) => l.PodName === on.name && l.Operation === 'Process' && l.Resource === '/usr/bin/cat'), 'process log of cat');
  for (const [k, v] of Object.entries({ Type: 'ContainerLog', NamespaceName: 'vis-on', ContainerName: 'app', ContainerID: on.containerIds.app, Result: 'Passed', Data: 'lsm=SECURITY_BPRM_CHECK', Labels: 'app=watched' })) {
    assert.deepEqual(execLog[k], v, `process log ${k}`);
  }
  const fileLog = await until(() => logs.find((l) => l.PodName === on.name && l.Operation === 'File'), 'a file log');
  assert.equal(fileLog.Data, 'lsm=FILE_OPEN');
  assert.ok(!logs.some((l) => l.PodName === on.name && l.Operation === 'File' && l.Resource === '/etc/hostname'), 'the audited open is an alert, not also a log');
  assert.ok(!logs.some((l) => l.PodName === on.name && l.Operation === 'Network'), 'network is not asked for: no network log');
  assert.equal(logs.filter((l) => l.PodName === off.name).length, 0, 'no log for the pod whose namespace did not ask');
  // the same records on stdout (KubeArmor's JSON)
  const stdoutLogs = (e.alerts as unknown as Rec[]).filter((x) => x.Type === 'ContainerLog' && x.PodName === on.name);
  assert.ok(stdoutLogs.length > 0, 'logs on stdout');
  assert.ok(!(e.alerts as unknown as Rec[]).some((x) => x.Type === 'ContainerLog' && x.PodName === off.name), 'none on stdout for the other pod');
  ctx.log(`gRPC: ${alerts.filter((a) => a.PodName === on.name).length} alerts, ${logs.filter((l) => l.PodName === on.name).length} logs for the pod with visibility; 0 for the other`);
// the feed is the enforcer's own (userspace); what the kernel decides for visibility differs by
// kernel, not by attach mode: one boot per kernel (the API-server swap takes the other two)
}, { timeoutMs: 420_000, on: ONE_BOOT_PER_KERNEL });
