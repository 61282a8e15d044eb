// npm run bench:rebind [-- --pods 1000,5000 --rate 50 --burst 100 --memory-pods 20000 --memory-limit 512M]
//
// Live binding at scale, against the test API server (devtools/apiserver.ts) and the real
// `armorgate webhook` process:
// - for each pod count: N running pods, already annotated as admission would have (so the
//   start itself writes nothing: checked), then one new policy that selects them all. Printed:
//   the time until every pod carries it, the API calls the rebind made by verb, the patch rate
//   achieved against the --reconcile-rate asked for, and the status writes.
// - memory: the webhook's resident set (VmRSS, VmHWM from /proc) once it watches
//   --memory-pods pods and has evaluated them all.
// The API server runs in this process, the webhook in its own; both share the machine's CPUs.
// BENCH_WEBHOOK_NODE_OPTIONS is the webhook's NODE_OPTIONS (e.g. --max-old-space-size=160).
// --memory-limit 512M runs the webhook in a memory cgroup of that limit (as the manifest's
// limits.memory does; bench/memory-cgroup.ts, root) and prints its peak and OOM kills.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { TestApiServer, type K8sObject, type Verb } from '../devtools/apiserver.ts';
import { compile } from '../policy/compile.ts';
import { parsePostureSpec } from '../policy/posture.ts';
import { signingKeyFromBytes } from '../policy/sign.ts';
import type { Pod } from '../policy/types.ts';
import { makeSelfSigned } from '../webhook/selfsigned.ts';
import { memoryCgroup, type MemoryCgroup } from './memory-cgroup.ts';

const { values: args } = parseArgs({ options: {
  pods: { type: 'string', default: '1000,5000' },
  rate: { type: 'string', default: '50' },
  'memory-limit': { type: 'string', default: '' },
  burst: { type: 'string', default: '100' },
  'memory-pods': { type: 'string', default: '20000' },
} });
const ROOT = path.join(import.meta.dirname, '..');
const PODS = '/api/v1/pods';
const KSP = '/apis/security.kubearmor.com/v1/kubearmorpolicies';
const DEFAULT_POSTURE_SPEC = 'file=audit,network=audit,capabilities=audit,process=audit'; // the CLI's default

const keyText = crypto.randomBytes(32).toString('hex');
const keyResult = signingKeyFromBytes(Buffer.from(keyText));
if (!keyResult.ok) throw new Error(keyResult.error.message);
const key = keyResult.value;
const posture = parsePostureSpec(DEFAULT_POSTURE_SPEC);
if (!posture.ok) throw new Error(posture.error.message);

function api(): Promise<TestApiServer> {
  return TestApiServer.start().then((a) => a
    .resource('/api/v1/namespaces', { kind: 'Namespace', apiVersion: 'v1', namespaced: false })
    .resource(PODS, { kind: 'Pod', apiVersion: 'v1', namespaced: true })
    .resource(KSP, { kind: 'KubeArmorPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: true, statusSubresource: true })
    .resource('/apis/security.kubearmor.com/v1/kubearmorclusterpolicies', { kind: 'KubeArmorClusterPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: false, statusSubresource: true })
    .resource('/apis/security.kubearmor.com/v1/kubearmorhostpolicies', { kind: 'KubeArmorHostPolicy', apiVersion: 'security.kubearmor.com/v1', namespaced: false, statusSubresource: true })
    .resource('/apis/coordination.k8s.io/v1/leases', { kind: 'Lease', apiVersion: 'coordination.k8s.io/v1', namespaced: true }));
}

/** N pods of a few shapes, annotated as admission annotates them with no policy in force. */
function addPods(a: TestApiServer, n: number): void {
  const namespaces = Math.max(1, Math.ceil(n / 500));
  for (let i = 0; i < namespaces; i++) a.create('/api/v1/namespaces', { metadata: { name: `ns-${i}` } });
  const cache = new Map<string, Record<string, string>>();
  for (let i = 0; i < n; i++) {
    const ns = `ns-${i % namespaces}`;
    const labels = { app: 'web', tier: `t${i % 5}` };
    const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${i}`, namespace: ns, labels, annotations: { 'kubectl.kubernetes.io/default-container': 'app' } },
      spec: { nodeName: `node-${i % 50}`, containers: [{ name: 'app', image: 'registry.example/app:1.2.3', ports: [{ containerPort: 8080 }], resources: { requests: { cpu: '100m', memory: '128Mi' } } }, { name: 'sidecar', image: 'registry.example/proxy:2' }] } } as unknown as Pod;
    const k = `${ns}/${labels.tier}`;
    let ann = cache.get(k);
    if (ann === undefined) {
      const c = compile({ ...pod, metadata: { ...pod.metadata, annotations: {} } }, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } as never, [], { defaultPosture: posture.ok ? posture.value : ({} as never), signingKey: key });
      if (!c.ok) throw new Error(c.error.message);
      ann = c.value.annotations;
      cache.set(k, ann);
    }
    pod.metadata!.annotations = { ...pod.metadata!.annotations, ...ann, 'armorgate.io/traceparent': '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' };
    a.create(PODS, pod as unknown as K8sObject);
  }
}

interface Hook { child: ChildProcess; logs: Record<string, unknown>[]; metricsPort: number; exited: Promise<unknown>; cg: MemoryCgroup | null }

/** --memory-limit in bytes (512M, 1G, or a number), 0 when none */
function bytesOf(t: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(t.trim());
  if (m === null) { if (t.trim() !== '') throw new Error(`--memory-limit ${t}: want e.g. 512M`); return 0; }
  return Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
}
const limitBytes = bytesOf(args['memory-limit'] ?? '');

async function startHook(a: TestApiServer, dir: string, extra: string[]): Promise<Hook> {
  const kc = path.join(dir, 'kubeconfig.json');
  fs.writeFileSync(kc, a.kubeConfig('bench').exportConfig());
  const certDir = path.join(dir, 'tls');
  fs.mkdirSync(certDir, { recursive: true });
  const pair = makeSelfSigned(['localhost']);
  fs.writeFileSync(path.join(certDir, 'tls.crt'), pair.cert);
  fs.writeFileSync(path.join(certDir, 'tls.key'), pair.key);
  fs.writeFileSync(path.join(dir, 'key'), keyText);
  const child = spawn(process.execPath, ['bin/armorgate.js', 'webhook', '--kubeconfig', kc, '--tls-cert-dir', certDir, '--signing-key-file', path.join(dir, 'key'),
    '--port', '0', '--metrics-port', '0', '--default-posture', DEFAULT_POSTURE_SPEC, ...extra],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: '', POD_NAME: 'bench', POD_NAMESPACE: 'armorgate',
    // e.g. --max-old-space-size=160: the webhook's heaps held to what a memory limit would leave them
    ...(process.env.BENCH_WEBHOOK_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_WEBHOOK_NODE_OPTIONS } : {}) } });
  const cg = limitBytes > 0 ? memoryCgroup(limitBytes, `ag-bench-webhook-${child.pid}`) : null;
  cg?.add(child.pid!);
  const logs: Record<string, unknown>[] = [];
  createInterface(child.stderr!).on('line', (l) => { try { logs.push(JSON.parse(l) as Record<string, unknown>); } catch { logs.push({ msg: l }); } });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await until(() => logs.some((l) => l.msg === 'webhook listening') || child.exitCode !== null, 60_000);
  const l = logs.find((x) => x.msg === 'webhook listening');
  if (l === undefined) { cg?.remove(); throw new Error(`the webhook did not start: ${JSON.stringify(logs.slice(-5))}`); }
  return { child, logs, metricsPort: l.metricsPort as number, exited, cg };
}

async function until(cond: () => boolean | Promise<boolean>, ms: number, step = 50, h?: Hook): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    if (h !== undefined && (h.child.exitCode !== null || h.child.signalCode !== null)) throw new Error(`the webhook exited (${h.child.signalCode ?? h.child.exitCode})${h.cg ? `; memory cgroup: ${JSON.stringify(h.cg.report())}` : ''}`);
    await new Promise((r) => setTimeout(r, step));
  }
}

function metric(h: Hook, name: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: h.metricsPort, path: '/metrics' }, (res) => {
      let t = '';
      res.on('data', (c: Buffer) => { t += c.toString(); });
      res.on('end', () => {
        let sum = 0, found = false;
        for (const line of t.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) { sum += Number(line.slice(line.lastIndexOf(' ') + 1)); found = true; }
        resolve(found ? sum : NaN);
      });
    }).on('error', reject);
  });
}

function rss(pid: number): { rss: number; hwm: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN);
  return { rss: Math.round(kb('VmRSS') / 1024), hwm: Math.round(kb('VmHWM') / 1024) };
}

const diff = (a: Record<Verb, number>, b: Record<Verb, number>): string =>
  (Object.keys(a) as Verb[]).filter((k) => b[k] - a[k] > 0).map((k) => `${k} ${b[k] - a[k]}`).join(', ');

async function rebind(n: number): Promise<void> {
  const a = await api();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-bench-rebind-'));
  addPods(a, n);
  const h = await startHook(a, dir, ['--reconcile-rate', args.rate!, '--reconcile-burst', args.burst!]);
  try {
    await until(async () => (await metric(h, 'armorgate_reconcile_pods ')) === n, 120_000, 200, h);
    await new Promise((r) => setTimeout(r, 1000));
    const startPatches = a.verbs(PODS).patch;
    const before = a.verbs();
    const t0 = performance.now();
    for (let i = 0; i < Math.max(1, Math.ceil(n / 500)); i++) {
      a.create(KSP, { apiVersion: 'security.kubearmor.com/v1', kind: 'KubeArmorPolicy', metadata: { name: 'block-shadow', namespace: `ns-${i}` },
        spec: { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block' } });
    }
    const bound = (): boolean => a.objects(PODS).every((p) => String((p.metadata.annotations as Record<string, string> | undefined)?.['armorgate.io/policies'] ?? '').includes('block-shadow'));
    let maxPending = 0;
    await until(async () => { maxPending = Math.max(maxPending, await metric(h, 'armorgate_reconcile_pending')); return a.verbs(PODS).patch - startPatches >= n && bound(); }, 30 * 60_000, 250, h);
    const seconds = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 2500)); // the status writes that follow
    const after = a.verbs();
    const m = rss(h.child.pid!);
    console.log(`rebind ${n} pods at --reconcile-rate ${args.rate} --reconcile-burst ${args.burst}: ${seconds.toFixed(1)} s (${(n / seconds).toFixed(1)} pods/s), ` +
      `patches at start ${startPatches}, API calls during the rebind: ${diff(before, after)}; pending peak ${maxPending}; ` +
      `webhook RSS ${m.rss} MiB (peak ${m.hwm})${await stopHook(h)}`);
  } finally {
    await stopHook(h);
    await a.stop();
  }
}

async function memory(n: number): Promise<void> {
  const a = await api();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ag-bench-mem-'));
  addPods(a, n);
  const h = await startHook(a, dir, ['--reconcile-rate', args.rate!]);
  try {
    await until(async () => (await metric(h, 'armorgate_reconcile_pods ')) === n, 300_000, 500, h);
    await new Promise((r) => setTimeout(r, 5000));
    const m = rss(h.child.pid!);
    console.log(`memory with ${n} pods watched (settled, ${a.verbs(PODS).patch} patches): webhook RSS ${m.rss} MiB, peak ${m.hwm} MiB${await stopHook(h)}`);
    const b = await api();
    const h0 = await startHook(b, fs.mkdtempSync(path.join(os.tmpdir(), 'ag-bench-mem0-')), ['--reconcile-rate', args.rate!]);
    await new Promise((r) => setTimeout(r, 5000));
    const m0 = rss(h0.child.pid!);
    console.log(`the same webhook with no pod: RSS ${m0.rss} MiB, peak ${m0.hwm} MiB${await stopHook(h0)}`);
    await b.stop();
  } finally {
    await stopHook(h);
    await a.stop();
  }
}

/** the cgroup's line of a result, and the cgroup gone */
async function stopHook(h: Hook): Promise<string> {
  if (h.child.exitCode !== null || h.child.signalCode !== null) { h.cg?.remove(); return ''; }
  const r = h.cg?.report();
  h.child.kill('SIGTERM');
  await h.exited;
  h.cg?.remove();
  return r === undefined ? '' : `; in a ${args['memory-limit']} memory cgroup: peak ${r.peakMiB} MiB, OOM kills ${r.oomKills}, the webhook ${h.child.signalCode === 'SIGKILL' ? 'killed' : 'alive to the end'}`;
}

for (const n of args.pods!.split(',').map(Number).filter((x) => x > 0)) await rebind(n);
const mem = Number(args['memory-pods']);
if (mem > 0) await memory(mem);
