// The demo's admission step, on the host: `armorgate webhook` standalone (self-signed HTTPS) with
// the seed's policies and the namespace, the example pod sent to POST /mutate-pod as the API
// server would (AdmissionReview v1, with a traceparent so the trace starts at the "API server"),
// the JSON patch applied, then what the API server and kubelet add (UID, QoS class, container IDs).
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import jsonpatch from 'fast-json-patch';
import { parse } from 'yaml';
import type { SpanRecord } from './otlp-receiver.ts';

export interface DemoPod {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: { name: string }[] };
  status?: unknown;
}

/** A policy the demo adds while the pod runs: no archiver in the shop's web pods. */
export const LATE_POLICY = { file: 'no-archivers.yaml', name: 'no-archivers', execname: 'tar', yaml: `# Added by the demo while the pod runs.
apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: no-archivers
  namespace: shop
spec:
  selector:
    matchLabels:
      app: web
  severity: 4
  message: archiver run in a running container
  process:
    matchPaths:
      - execname: tar
  action: Block
` };

/** The running pod re-annotated after LATE_POLICY was added: what admission writes for it now. */
export interface Reannotated {
  pod: DemoPod;
  policy: string;
  digest: string;
}

export interface Admitted {
  pod: DemoPod;
  /** The same pod with the annotations the gateway writes once LATE_POLICY is in force. */
  later: Reannotated;
  containerIds: Record<string, string>;
  warnings: string[];
  /** The "API server" span (the demo's): parent of the webhook's admission span. */
  rootSpan: SpanRecord;
  traceId: string;
  webhookLog: string[];
}

function post(port: number, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(JSON.stringify(body));
    // The webhook made its own self-signed certificate; the demo takes it as the API server takes
    // the caBundle it is given (here: not verified, on loopback).
    const req = request({
      host: '127.0.0.1', port, method: 'POST', path, rejectUnauthorized: false, timeout: 30_000,
      headers: { 'content-type': 'application/json', 'content-length': String(data.length), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

/** Policies + namespace into dir/policies, a fresh signing key into dir/signing.key. */
export function prepareInputs(root: string, dir: string): { policiesDir: string; keyFile: string } {
  rmSync(dir, { recursive: true, force: true });
  const policiesDir = join(dir, 'policies');
  mkdirSync(policiesDir, { recursive: true });
  for (const f of readdirSync(join(root, 'examples', 'policies'))) copyFileSync(join(root, 'examples', 'policies', f), join(policiesDir, f));
  copyFileSync(join(root, 'examples', 'namespace.yaml'), join(policiesDir, 'namespace.yaml'));
  const keyFile = join(dir, 'signing.key');
  writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return { policiesDir, keyFile };
}

/** Runs the webhook, admits examples/pod.yaml, stops the webhook (its spans flushed on the way out). */
export async function admit(root: string, policiesDir: string, keyFile: string, otlpEndpoint: string, say: (s: string) => void): Promise<Admitted> {
  const child = spawn(process.execPath, [join(root, 'bin', 'armorgate.js'), 'webhook', '--policies-dir', policiesDir,
    '--port', '0', '--signing-key-file', keyFile, '--metrics-port', '-1', '--shutdown-grace', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint, OTEL_SERVICE_NAME: 'armorgate-webhook', OTEL_TRACES_EXPORTER: 'otlp', OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '200' },
  });
  const log: string[] = [];
  let buf = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the webhook did not start within 60 s:\n${log.join('\n')}`)), 60_000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      buf += s;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        log.push(line);
        try {
          const l = JSON.parse(line) as { msg?: string; port?: number };
          if (l.msg === 'webhook listening' && typeof l.port === 'number') { clearTimeout(timer); resolve(l.port); }
        } catch { /* not JSON */ }
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`the webhook exited (${code}) before listening:\n${log.join('\n')}`)); });
  });
  say(`webhook listening on https://127.0.0.1:${port} (self-signed certificate it made itself)`);

  try {
    const pod = parse(readFileSync(join(root, 'examples', 'pod.yaml'), 'utf8')) as DemoPod;
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const review = {
      apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
      request: {
        uid: randomUUID(), kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' },
        namespace: pod.metadata.namespace, name: pod.metadata.name, operation: 'CREATE',
        userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
        object: pod, dryRun: false,
      },
    };
    const t0 = Date.now();
    const answer = await post(port, '/mutate-pod', review, { traceparent: `00-${traceId}-${spanId}-01` });
    const t1 = Date.now();
    if (answer.status !== 200) throw new Error(`POST /mutate-pod answered ${answer.status}: ${answer.body}`);
    const resp = (JSON.parse(answer.body) as { response: { allowed: boolean; patch?: string; warnings?: string[]; status?: { message?: string } } }).response;
    if (!resp.allowed) throw new Error(`admission refused the pod: ${resp.status?.message ?? ''}`);
    const patch = resp.patch ? JSON.parse(Buffer.from(resp.patch, 'base64').toString('utf8')) as jsonpatch.Operation[] : [];
    const admitted = jsonpatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
    if (!admitted.metadata.annotations?.['armorgate.io/profile']) throw new Error('the admitted pod carries no armorgate.io/profile annotation');

    // What the API server and kubelet add next: the UID, the QoS class (no requests: BestEffort),
    // the containers' IDs as containerd reports them.
    const containerIds: Record<string, string> = {};
    for (const c of pod.spec.containers) containerIds[c.name] = randomBytes(32).toString('hex');
    admitted.metadata.uid = randomUUID();
    admitted.status = {
      phase: 'Running', qosClass: 'BestEffort',
      containerStatuses: Object.entries(containerIds).map(([name, id]) => ({ name, containerID: `containerd://${id}`, ready: true })),
    };
    // A policy is added while the pod runs. The webhook reloads its folder; what it now writes for
    // this pod (asked again as the gateway's reconciler would, for the running pod) binds the new
    // policy too, and the running pod gets those annotations (the PATCH reaching the node).
    writeFileSync(join(policiesDir, LATE_POLICY.file), LATE_POLICY.yaml);
    say(`policy ${LATE_POLICY.name} (Block ${LATE_POLICY.execname}) added to the webhook's folder while the pod runs`);
    let later: Reannotated | null = null;
    for (const t1 = Date.now(); later === null;) {
      const again = await post(port, '/mutate-pod', { ...review, request: { ...review.request, uid: randomUUID() } }, {});
      const r = (JSON.parse(again.body) as { response: { allowed: boolean; patch?: string } }).response;
      const ops = r.patch ? JSON.parse(Buffer.from(r.patch, 'base64').toString('utf8')) as jsonpatch.Operation[] : [];
      const now = jsonpatch.applyPatch(structuredClone(pod), ops, true, false).newDocument;
      const ann = now.metadata.annotations ?? {};
      if (r.allowed && (ann['armorgate.io/policies'] ?? '').split(',').some((x) => x.startsWith(`shop/${LATE_POLICY.name}@`))) {
        const pod2 = structuredClone(admitted);
        pod2.metadata.annotations = { ...ann };
        later = { pod: pod2, policy: ann['armorgate.io/policies'] ?? '', digest: ann['armorgate.io/profile-digest'] ?? '' };
      } else if (Date.now() - t1 > 30_000) throw new Error('the webhook did not bind the added policy within 30 s');
      else await new Promise((res) => setTimeout(res, 200));
    }
    say(`the gateway now writes for the running pod: policies ${later.policy}`);
    const rootSpan: SpanRecord = {
      traceId, spanId, parentSpanId: '', name: `POST /api/v1/namespaces/${pod.metadata.namespace}/pods → mutating admission`,
      service: 'kube-apiserver (played by the demo)', kind: 3, startMs: t0, endMs: t1,
      attributes: { 'k8s.pod.name': pod.metadata.name, 'k8s.namespace.name': pod.metadata.namespace }, events: [], links: [], status: { code: 0 },
    };
    return { pod: admitted, later, containerIds, warnings: resp.warnings ?? [], rootSpan, traceId, webhookLog: log };
  } finally {
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
