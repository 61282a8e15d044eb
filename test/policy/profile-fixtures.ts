// Builders for the policy-core tests: policies, pods and namespaces as plain objects.
import type { Namespace, Pod, Policy, PolicyKind } from '../../policy/types.ts';

export function policy(name: string, spec: Record<string, unknown>, opts: { kind?: PolicyKind; namespace?: string; generation?: number } = {}): Policy {
  const kind = opts.kind ?? 'KubeArmorPolicy';
  const metadata: Policy['metadata'] = { name };
  if (kind === 'KubeArmorPolicy') metadata.namespace = opts.namespace ?? 'default';
  if (opts.generation !== undefined) metadata.generation = opts.generation;
  return { apiVersion: 'security.kubearmor.com/v1', kind, metadata, spec };
}

export function pod(labels: Record<string, string>, opts: { namespace?: string; containers?: string[]; annotations?: Record<string, string> } = {}): Pod {
  const p: Pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', namespace: opts.namespace ?? 'default', labels },
    spec: { containers: (opts.containers ?? ['main']).map((name) => ({ name, image: 'busybox' })) },
  };
  if (opts.annotations !== undefined) p.metadata!.annotations = opts.annotations;
  return p;
}

export function namespace(name: string, annotations: Record<string, string> = {}, labels: Record<string, string> = {}): Namespace {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, annotations, labels } };
}
