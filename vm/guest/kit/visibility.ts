// Shared by the gRPC/visibility scenario and its benchmark: a pod of its own namespace (with or
// without `kubearmor-visibility`) compiled and signed by `armorgate profile`, and a gRPC client
// built from the proto of KubeArmor's contract.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Cgroup, ScenarioContext } from '../scenario.ts';
import type { Pod } from '../../../policy/types.ts';
import { BURSTABLE, cgroup, publish, type Enforcer, type Fixture, type PreparedPod } from './enforcer.ts';

const policyYaml = (ns: string): string => `apiVersion: security.kubearmor.com/v1
kind: KubeArmorPolicy
metadata:
  name: watched
  namespace: ${ns}
spec:
  selector:
    matchLabels:
      app: watched
  severity: 4
  tags: ["visibility-test"]
  message: watched access
  process:
    matchPaths:
      - path: /usr/bin/dpkg
        action: Block
  file:
    matchPaths:
      - path: /etc/hostname
        action: Audit
  network:
    matchProtocols:
      - protocol: raw
        action: Block
`;

export const namespaceYaml = (name: string, visibility: string | null): string => `apiVersion: v1
kind: Namespace
metadata:
  name: ${name}
  annotations:
    kubearmor-file-posture: audit
${visibility === null ? '' : `    kubearmor-visibility: ${visibility}\n`}`;

export async function compileIn(ctx: ScenarioContext, fx: Fixture, ns: string, visibility: string | null): Promise<PreparedPod> {
  const dir = join(fx.dir, `grpc-${ns}`);
  mkdirSync(join(dir, 'policies'), { recursive: true });
  writeFileSync(join(dir, 'policies/watched.yaml'), policyYaml(ns));
  writeFileSync(join(dir, 'namespace.yaml'), namespaceYaml(ns, visibility));
  const uid = randomUUID();
  const id = randomBytes(32).toString('hex');
  const pod: Pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `watched-${ns}`, namespace: ns, uid, labels: { app: 'watched' } },
    spec: { containers: [{ name: 'app', image: 'debian:12-slim' }] },
    status: { phase: 'Running', qosClass: 'Burstable', containerStatuses: [{ name: 'app', containerID: `containerd://${id}` }] },
  };
  writeFileSync(join(dir, 'pod.json'), JSON.stringify(pod));
  const r = await ctx.runIn(null, [process.execPath, join(ctx.root, 'bin/armorgate.js'), 'profile', '--pod', join(dir, 'pod.json'),
    '--policies', join(dir, 'policies'), '--namespace', join(dir, 'namespace.yaml'), '--signing-key-file', fx.keyFile, '--output', 'pod'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `armorgate profile: ${r.stderr}`);
  const podCgroup = `${BURSTABLE}/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice`;
  return {
    uid, name: `watched-${ns}`, containerIds: { app: id }, file: join(fx.podsDir, `watched-${ns}-${uid}.json`), manifest: JSON.parse(r.stdout) as Pod, podCgroup,
    containerCgroup: () => `${podCgroup}/cri-containerd-${id}.scope`,
  };
}

export type Rec = Record<string, unknown>;
type Ctor = new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & Record<string, (req: unknown) => grpc.ClientReadableStream<Rec>>;

/** A LogService client from the proto (package feeder), on the enforcer's default port. */
export function logClient(ctx: ScenarioContext): grpc.Client & Record<string, (req: unknown) => grpc.ClientReadableStream<Rec>> {
  const def = protoLoader.loadSync(join(ctx.root, 'enforcer/grpc/kubearmor.proto'), { keepCase: true, longs: Number, enums: String, defaults: true });
  const LogService = (grpc.loadPackageDefinition(def) as unknown as { feeder: { LogService: Ctor } }).feeder.LogService;
  return new LogService('127.0.0.1:32767', grpc.credentials.createInsecure());
}

/** Publishes the pods, makes their `app` containers' cgroups (kubelet's part) and waits until the
 *  enforcer has each in force with that container; the cgroups in the pods' order. */
export async function enforceWithApp(ctx: ScenarioContext, fx: Fixture, e: Enforcer, pods: readonly PreparedPod[]): Promise<Cgroup[]> {
  const mark = e.logs.length;
  for (const p of pods) publish(ctx, fx, p);
  const cgs: Cgroup[] = [];
  for (const p of pods) cgs.push(await cgroup(ctx, p.containerCgroup('app')));
  for (const [i, p] of pods.entries()) {
    const id = cgs[i]!.id;
    await e.waitLog((l) => l.msg === 'pod enforced' && l.uid === p.uid && Array.isArray(l.containers) && (l.containers as string[]).includes(`app@${id}`), `${p.name} enforced with its container`, 60_000, mark);
  }
  return cgs;
}
