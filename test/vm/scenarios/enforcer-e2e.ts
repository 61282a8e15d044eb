// The seed's cases end to end, in the VM: the example pod and policies (examples/) compiled and
// signed by `armorgate profile --output pod`, the real `armorgate enforcer` started on a --pods-dir,
// kubelet-style cgroups created, attempts from inside and outside the pod, alerts checked field by field.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { scenario } from '../../../vm/guest/scenario.ts';
import type { KubeArmorAlert } from '../../../enforcer/alerts.ts';
import { cgroup, deniedExec, fixture, preparePod, publish, sharedEnforcer } from '../../../vm/guest/kit/enforcer.ts';

const ALERT_FIELDS = [
  'Timestamp', 'UpdatedTime', 'ClusterName', 'HostName', 'NamespaceName', 'PodName', 'Owner', 'Labels', 'ContainerID', 'ContainerName',
  'ContainerImage', 'HostPID', 'HostPPID', 'PPID', 'PID', 'UID', 'ParentProcessName', 'ProcessName', 'PolicyName', 'Severity', 'Tags', 'ATags',
  'Message', 'Type', 'Source', 'Operation', 'Resource', 'Data', 'Enforcer', 'Action', 'Result',
].sort();

const TOKEN_DIR = '/run/secrets/kubernetes.io/serviceaccount';

scenario('enforcer: the example pod end to end through --pods-dir', async (ctx) => {
  const fx = await fixture(ctx);
  const pod = await preparePod(ctx, fx);
  publish(ctx, fx, pod); // known before the enforcer starts (when this scenario starts it)
  await ctx.mountTmpfs('/etc/ssl', { keepContents: true });
  mkdirSync(`${TOKEN_DIR}/..2026_01_01_00_00_00.000000000`, { recursive: true });
  writeFileSync(`${TOKEN_DIR}/..2026_01_01_00_00_00.000000000/token`, 'eyJhbGciOi.token\n');
  symlinkSync('..2026_01_01_00_00_00.000000000', `${TOKEN_DIR}/..data`);
  symlinkSync('..data/token', `${TOKEN_DIR}/token`);
  ctx.defer(() => rmSync('/run/secrets', { recursive: true, force: true }));

  const t0 = Date.now();
  const e = await sharedEnforcer(ctx);
  // bin/armorgate.js replaced itself (same PID) with the V8 flags against JIT page registry aborts
  const argv = readFileSync(`/proc/${String(e.child.pid)}/cmdline`, 'utf8').split('\0');
  for (const flag of ['--liftoff-only', '--no-memory-protection-keys']) assert.ok(argv.includes(flag), `the enforcer runs as ${argv.join(' ')}`);
  const mode = e.logs.find((l) => l.msg === 'ready')?.mode;
  assert.equal(mode, ctx.attachMode, 'the enforcer runs in the attach mode asked for');
  await e.waitLog((l) => l.msg === 'pod enforced' && l.uid === pod.uid, 'the pod enforced');
  ctx.log(`pod enforced ${Date.now() - t0} ms after start`);

  // kubelet creates the pod's cgroup, containerd the containers' scopes
  const web = await cgroup(ctx, pod.containerCgroup('web'));
  const shipper = await cgroup(ctx, pod.containerCgroup('log-shipper'));
  // container-scoped rules need the container cgroups: bound by the next sweep (1 s here)
  await e.waitLog((l) => l.msg === 'pod enforced' && l.uid === pod.uid
    && Array.isArray(l.containers) && (l.containers as string[]).some((c) => c === `web@${web.id}`), 'the web container bound');

  // 1. package managers: blocked in every container of the pod, not outside
  const dpkg = await ctx.runIn(web, ['/usr/bin/dpkg', '--version']);
  assert.ok(deniedExec(dpkg), `dpkg in the pod: ${dpkg.code} ${dpkg.stderr}`);
  assert.ok(deniedExec(await ctx.runIn(shipper, ['/usr/bin/apt-get', '--version'])), 'apt-get in the sidecar');
  assert.equal((await ctx.runIn(null, ['/usr/bin/dpkg', '--version'])).code, 0, 'dpkg outside the pod');

  const a = await e.waitAlert((x) => x.Operation === 'Process' && x.Resource === '/usr/bin/dpkg' && x.ContainerName === 'web', 'the dpkg alert');
  assert.deepEqual(Object.keys(a).sort(), ALERT_FIELDS, 'exactly the KubeArmor alert fields');
  const expected: Partial<KubeArmorAlert> = {
    ClusterName: 'vm-cluster', HostName: 'vm-node', NamespaceName: 'shop', PodName: 'web', Owner: { Ref: 'Pod', Name: 'web', Namespace: 'shop' }, Labels: 'app=web,tier=front',
    ContainerID: pod.containerIds.web, ContainerName: 'web', UID: 0, PolicyName: 'no-package-managers', Severity: '5',
    Tags: 'CM-7,NIST,package-manager', ATags: ['CM-7', 'NIST', 'package-manager'],
    Message: 'package manager executed in a running container', Type: 'MatchedPolicy', Operation: 'Process',
    Resource: '/usr/bin/dpkg', Enforcer: 'BPFLSM', Action: 'Block', Result: 'Permission denied',
  };
  for (const [k, v] of Object.entries(expected)) assert.deepEqual(a[k as keyof KubeArmorAlert], v, `alert field ${k}`);
  assert.equal(a.Data, 'lsm=SECURITY_BPRM_CHECK', 'KubeArmor\'s name of the exec hook');
  assert.ok(a.HostPID > 0 && a.PID === a.HostPID && a.PPID > 0, 'pids');
  assert.ok(Math.abs(a.Timestamp - Date.now() / 1000) < 120, 'Timestamp is unix seconds, now');
  assert.match(a.UpdatedTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assert.equal(a.Source, '/usr/bin/dash', 'the source of an exec is the executable calling exec');
  assert.ok(a.ProcessName !== '', 'ProcessName');
  await e.waitAlert((x) => x.Resource === '/usr/bin/apt-get' && x.ContainerName === 'log-shipper' && x.Action === 'Block', 'the apt-get alert');

  // 2. trust stores are read-only: writes refused in the pod; reads work; outside anything goes
  const touch = await ctx.runIn(shipper, ['/usr/bin/touch', '/etc/ssl/planted.pem']);
  assert.notEqual(touch.code, 0, 'touch under /etc/ssl in the pod');
  assert.match(touch.stderr, /Operation not permitted|Permission denied/);
  assert.equal((await ctx.runIn(shipper, ['/usr/bin/cat', '/etc/ssl/openssl.cnf'])).code, 0, 'reading /etc/ssl in the pod');
  assert.equal((await ctx.runIn(null, ['/usr/bin/touch', '/etc/ssl/planted.pem'])).code, 0, 'touch outside the pod');
  const f = await e.waitAlert((x) => x.Operation === 'File' && x.PolicyName === 'ca-certificates-read-only', 'the trust store alert');
  assert.equal(f.Action, 'Block');
  assert.equal(f.Result, 'Permission denied');
  assert.equal(f.Severity, '7');
  assert.match(f.Resource, /^\/etc\/ssl\//);

  // 3. raw sockets: refused in the pod (the cluster policy), fine outside
  const raw = ['/usr/bin/python3', '-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'];
  const inPod = await ctx.runIn(web, raw);
  assert.notEqual(inPod.code, 0, 'raw socket in the pod');
  assert.match(inPod.stderr, /PermissionError|Operation not permitted/);
  assert.equal((await ctx.runIn(null, raw)).code, 0, 'raw socket outside the pod');
  const n = await e.waitAlert((x) => x.Operation === 'Network' && x.PolicyName === 'no-raw-sockets', 'the raw socket alert');
  assert.equal(n.Action, 'Block');

  // 4. the service-account token: only cat, only in the web container (a container-scoped policy)
  const token = `${TOKEN_DIR}/token`;
  const cat = await ctx.runIn(web, ['/usr/bin/cat', token]);
  assert.equal(cat.code, 0, `cat may read the token in web: ${cat.stderr}`);
  assert.equal(cat.stdout, 'eyJhbGciOi.token\n');
  // through a shell in the pod (not the last command, so dash forks): the alert's parent is that shell
  const head = await ctx.runIn(web, ['/bin/sh', '-c', `/usr/bin/head -c 5 ${token}; exit $?`]);
  assert.notEqual(head.code, 0, 'head may not read the token in web');
  assert.match(head.stderr, /Operation not permitted|Permission denied/);
  assert.equal((await ctx.runIn(shipper, ['/usr/bin/head', '-c', '5', token])).code, 0, 'the rule is scoped to the web container');
  assert.equal((await ctx.runIn(null, ['/usr/bin/head', '-c', '5', token])).code, 0, 'outside the pod');
  const t = await e.waitAlert((x) => x.PolicyName === 'service-account-token-one-reader' && x.Action === 'Block', 'the token alert');
  assert.equal(t.ContainerName, 'web');
  assert.equal(t.ProcessName, '/usr/bin/head');
  assert.equal(t.ParentProcessName, '/usr/bin/dash', 'the parent as the kernel recorded its exec in the pod');
  assert.equal(t.ContainerID, pod.containerIds.web);
  assert.equal(t.Severity, '8');

  // 5. the Allow rule puts the web container's file access in allow-list mode: other files get the
  //    namespace's file posture (audit): reported as DefaultPosture, passed
  const p = await e.waitAlert((x) => x.PolicyName === 'DefaultPosture' && x.ContainerName === 'web' && x.Operation === 'File', 'a posture alert');
  assert.equal(p.Action, 'Audit');
  assert.equal(p.Result, 'Passed');
  assert.equal(p.Type, 'MatchedPolicy');

  // what was tried outside the pod was never reported: every decision names a pod
  for (const x of e.alerts) if (x.Type === 'MatchedPolicy') assert.notEqual(x.PodName, '', JSON.stringify(x));

  // 6. the Prometheus metrics of a real kernel's decisions (--metrics-port, default 9091), and health
  const listening = e.logs.find((l) => l.msg === 'metrics, /healthz and /readyz listening');
  if (listening === undefined) {
    // only when another enforcer of this boot holds the port, which the log says
    assert.ok(e.logs.some((l) => l.msg === 'the metrics port cannot be bound: no /metrics, /healthz, /readyz'), 'the metrics server listens or says why not');
    ctx.log('metrics not checked: another enforcer of this boot holds the metrics port');
  } else {
    ctx.log(`metrics checked on port ${String(listening.port)}`);
    const base = `http://127.0.0.1:${String(listening.port)}`;
    assert.equal((await fetch(`${base}/readyz`)).status, 200, '/readyz once enforcing');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const text = await (await fetch(`${base}/metrics`)).text();
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^armorgate_enforcer_events_total\{action="Block",result="denied"\} (\S+)$/m) >= 4, 'Block decisions counted');
    assert.equal(value(/^armorgate_enforcer_enforcing (\S+)$/m), 1);
    assert.ok(value(/^armorgate_enforcer_pods\{state="enforced",reason=""\} (\S+)$/m) >= 1, 'the pod counted enforced');
    assert.ok(value(/^armorgate_enforcer_rules_loaded (\S+)$/m) > 0, 'rules in the kernel map');
    assert.ok(value(/^armorgate_enforcer_map_fill_ratio\{map="rules"\} (\S+)$/m) > 0, 'fill ratio of the rule map');
    assert.ok(value(/^armorgate_enforcer_attach_duration_seconds_count\{op="attach"\} (\S+)$/m) >= 1, 'attach latency observed');
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  }
}, { timeoutMs: 240_000 });

scenario('enforcer: a pod without a valid signature is reported, not enforced, never a crash', async (ctx) => {
  const fx = await fixture(ctx);
  const good = await preparePod(ctx, fx, { name: 'good' });
  const forged = await preparePod(ctx, fx, { name: 'forged' });
  const ann = { ...forged.manifest.metadata?.annotations };
  ann['armorgate.io/profile-signature'] = `hmac-sha256:${'0'.repeat(64)}`;
  publish(ctx, fx, good);
  publish(ctx, fx, forged, { ...forged.manifest, metadata: { ...forged.manifest.metadata, annotations: ann } });
  const bare = await preparePod(ctx, fx, { name: 'bare' });
  publish(ctx, fx, bare, { ...bare.manifest, metadata: { ...bare.manifest.metadata, annotations: {} } });
  writeFileSync(`${fx.podsDir}/garbage.yaml`, 'kind: [not yaml\n');
  ctx.defer(() => rmSync(`${fx.podsDir}/garbage.yaml`, { force: true }));
  const e = await sharedEnforcer(ctx);
  const s1 = await e.waitAlert((x) => x.Type === 'SystemEvent' && x.PodName === 'forged', 'the forged pod alert');
  assert.equal(s1.Data, 'code=E_SIGNATURE');
  assert.equal(s1.NamespaceName, 'shop');
  const s2 = await e.waitAlert((x) => x.Type === 'SystemEvent' && x.PodName === 'bare', 'the bare pod alert');
  assert.equal(s2.Data, 'code=E_NO_PROFILE');
  await e.waitLog((l) => l.msg === 'pod enforced' && l.uid === good.uid, 'the good pod enforced');
  // the forged pod's process is not claimed to be protected, the good one is
  const forgedCg = await cgroup(ctx, forged.containerCgroup('web'));
  const goodCg = await cgroup(ctx, good.containerCgroup('web'));
  assert.equal((await ctx.runIn(forgedCg, ['/usr/bin/dpkg', '--version'])).code, 0);
  assert.ok(deniedExec(await ctx.runIn(goodCg, ['/usr/bin/dpkg', '--version'])));
  assert.equal(e.exited, false, 'still running');
}, { timeoutMs: 180_000 });
