// AdmissionReview bodies shaped as the API server sends them, a realistic pod, policies and
// namespaces, and a started webhook with an HTTPS client that trusts its certificate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import pino from 'pino';
import { stringify } from 'yaml';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { Pod } from '../policy/types.ts';
import { startWebhook, type RunningWebhook, type WebhookOptions } from '../webhook/server.ts';
import { DEFAULT_POSTURE } from '../policy/posture.ts';

export const GATEWAY_USER = 'system:serviceaccount:armorgate:armorgate-webhook';

export interface ReviewInit {
  uid?: string;
  kind: { group: string; version: string; kind: string };
  resource: { group: string; version: string; resource: string };
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  namespace?: string;
  name?: string;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
  username?: string;
}

let seq = 0;
export function nextUid(): string {
  seq++;
  return `705ab4f5-6393-11e8-b7cc-${String(seq).padStart(12, '0')}`;
}

/** Every field of AdmissionRequest (admission.k8s.io/v1), as the API server fills them. */
export function review(r: ReviewInit): Record<string, unknown> {
  const optionsKind = r.operation === 'CREATE' ? 'CreateOptions' : r.operation === 'UPDATE' ? 'UpdateOptions' : r.operation === 'DELETE' ? 'DeleteOptions' : 'PodExecOptions';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: r.uid ?? nextUid(),
      kind: r.kind,
      resource: r.resource,
      subResource: '',
      requestKind: r.kind,
      requestResource: r.resource,
      requestSubResource: '',
      name: r.name ?? '',
      namespace: r.namespace ?? '',
      operation: r.operation,
      userInfo: {
        username: r.username ?? 'kubernetes-admin',
        uid: '014fbff9a07c',
        groups: ['system:authenticated', 'system:masters'],
        extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=5e9a'] },
      },
      object: r.object ?? null,
      oldObject: r.oldObject ?? null,
      dryRun: r.dryRun ?? false,
      options: { kind: optionsKind, apiVersion: 'meta.k8s.io/v1', fieldManager: 'kubectl-client-side-apply', fieldValidation: 'Strict' },
    },
  };
}

export const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };
export const POD_RESOURCE = { group: '', version: 'v1', resource: 'pods' };

export function podReview(operation: 'CREATE' | 'UPDATE', pod: Pod, extra: Partial<ReviewInit> = {}): Record<string, unknown> {
  return review({ kind: POD_KIND, resource: POD_RESOURCE, operation, namespace: pod.metadata?.namespace, name: pod.metadata?.name ?? '', object: pod, ...extra });
}

export function policyReview(policy: Record<string, unknown>, extra: Partial<ReviewInit> = {}): Record<string, unknown> {
  const kind = String(policy.kind);
  const meta = policy.metadata as { name?: string; namespace?: string } | undefined;
  return review({
    kind: { group: 'security.kubearmor.com', version: 'v1', kind },
    resource: { group: 'security.kubearmor.com', version: 'v1', resource: `${kind.toLowerCase()}s`.replace(/ys$/, 'ies') },
    operation: 'CREATE', namespace: meta?.namespace, name: meta?.name, object: policy, ...extra,
  });
}

/** A pod as a Deployment's ReplicaSet creates it (generateName, no name or uid yet). */
export function realisticPod(namespace = 'shop', labels: Record<string, string> = { app: 'web', tier: 'frontend' }, annotations: Record<string, string> = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'web-7d9c8b6f4-',
      namespace,
      labels: { ...labels, 'pod-template-hash': '7d9c8b6f4' },
      annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-28T10:00:00Z', ...annotations },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9c8b6f4', uid: '9c1f0e4a-5b8d-4c3e-a1f2-0d9e8c7b6a54', controller: true, blockOwnerDeletion: true }],
      managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-11-28T10:00:01Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {} } } }],
    } as Pod['metadata'],
    spec: {
      volumes: [{ name: 'kube-api-access-x7k2p', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] } }],
      containers: [
        ({
          name: 'web', image: 'registry.example.com/shop/web:1.4.2',
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [{ name: 'LOG_LEVEL', value: 'info' }],
          resources: { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
          volumeMounts: [{ name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }],
          terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', imagePullPolicy: 'IfNotPresent',
          securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
        }),
        ({ name: 'sidecar', image: 'registry.example.com/proxy:2.0', resources: {}, terminationMessagePath: '/dev/termination-log', imagePullPolicy: 'IfNotPresent' }),
      ] as unknown as { name: string }[],
      restartPolicy: 'Always', terminationGracePeriodSeconds: 30, dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default', serviceAccount: 'default', securityContext: {}, schedulerName: 'default-scheduler',
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
      priority: 0, enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority',
    },
    status: { phase: 'Pending', qosClass: 'Burstable' },
  };
}

export function policy(name: string, namespace: string | null, spec: Record<string, unknown>, kind = namespace === null ? 'KubeArmorClusterPolicy' : 'KubeArmorPolicy'): Record<string, unknown> {
  return { apiVersion: 'security.kubearmor.com/v1', kind, metadata: namespace === null ? { name } : { name, namespace }, spec };
}

export const BLOCK_SHADOW = policy('block-shadow', 'shop', { selector: { matchLabels: { app: 'web' } }, file: { matchPaths: [{ path: '/etc/shadow' }] }, action: 'Block', severity: 7, message: 'shadow read' });
export const AUDIT_CURL = policy('audit-curl', 'shop', { selector: { matchLabels: { tier: 'frontend' } }, process: { matchPaths: [{ path: '/usr/bin/curl' }] }, action: 'Audit' });
export const CLUSTER_NO_RAW = policy('no-raw-sockets', null, {
  selector: { matchExpressions: [{ key: 'namespace', operator: 'In', values: ['shop', 'open'] }] },
  network: { matchProtocols: [{ protocol: 'raw' }] }, action: 'Block',
});

export function namespace(name: string, annotations: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations, labels: { 'kubernetes.io/metadata.name': name } } };
}

/** A temporary policies folder: policies and namespaces as YAML files. */
export function policiesDir(docs: Record<string, unknown>[] = [
  BLOCK_SHADOW, AUDIT_CURL, CLUSTER_NO_RAW,
  namespace('shop', { 'kubearmor-file-posture': 'block' }),
  namespace('open', { 'armorgate.io/allow-opt-out': 'true' }),
  namespace('strict'),
]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-policies-'));
  fs.writeFileSync(path.join(dir, 'policies.yaml'), docs.filter((d) => d.kind !== 'Namespace').map((d) => stringify(d)).join('---\n'));
  fs.writeFileSync(path.join(dir, 'namespaces.yaml'), docs.filter((d) => d.kind === 'Namespace').map((d) => stringify(d)).join('---\n'));
  return dir;
}

export interface TestWebhook {
  hook: RunningWebhook;
  spans: InMemorySpanExporter;
  agent: https.Agent;
  dir: string;
  post(endpoint: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; json: unknown; headers: Record<string, unknown> }>;
  get(p: string): Promise<{ status: number; text: string }>;
  /** One request; the answer's text (decoded as UTF-8) and headers as they came. */
  raw(method: string, p: string, body?: string | Buffer): Promise<{ status: number; text: string; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

export async function startTestWebhook(opts: Partial<WebhookOptions> = {}): Promise<TestWebhook> {
  const spans = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  const dir = opts.policiesDir ?? policiesDir();
  const hook = await startWebhook({
    port: 0, host: '127.0.0.1', metricsPort: 0, policiesDir: dir, gatewayUser: GATEWAY_USER, defaultPosture: { ...DEFAULT_POSTURE },
    logger: pino({ level: 'silent' }), tracer: provider.getTracer('test'), shutdownGraceMs: 5000, ...opts,
  });
  const ca = fs.readFileSync(path.join(hook.certDir, 'tls.crt'));
  const agent = new https.Agent({ keepAlive: true, ca, servername: 'localhost' });
  const request = (method: string, p: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: hook.port, path: p, method, agent, headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    hook, spans, agent, dir,
    post: async (endpoint, body, headers) => {
      const r = await request('POST', endpoint, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), headers);
      let json: unknown = null;
      try { json = JSON.parse(r.text); } catch { /* left null: the test says what it expected */ }
      return { status: r.status, json, headers: r.headers };
    },
    get: async (p) => { const r = await request('GET', p); return { status: r.status, text: r.text }; },
    raw: (method, p, body) => request(method, p, body),
    close: async () => { agent.destroy(); await hook.close(); await provider.shutdown(); },
  };
}
