// The reconciler's and the leader election's API calls, made in the watch worker with
// @kubernetes/client-node's typed clients: a merge patch of a pod's annotations, a merge
// patch of a policy's status, a Lease read/create/replace. Each answers an ApiResult (never
// throws): the HTTP status, or 0 when the API server did not answer.
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { ApiCall, ApiResult } from './cluster-watch-protocol.ts';

const GROUP = 'security.kubearmor.com';
const VERSION = 'v1';

export function apiCaller(kc: KubeConfig): (call: ApiCall) => Promise<ApiResult> {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  return async (c) => {
    try {
      let body: unknown;
      switch (c.op) {
        case 'patchPod':
          body = await core.patchNamespacedPod({ namespace: c.namespace, name: c.name, body: c.body as object }, merge);
          return { ok: true, code: 200, body: { metadata: { resourceVersion: (body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion } } };
        case 'patchPolicyStatus':
          if (c.namespace === '') await custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: c.plural, name: c.name, body: c.body as object }, merge);
          else await custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: c.plural, namespace: c.namespace, name: c.name, body: c.body as object }, merge);
          return { ok: true, code: 200 };
        case 'readLease':
          body = await coordination.readNamespacedLease({ namespace: c.namespace, name: c.name });
          return { ok: true, code: 200, body: JSON.parse(JSON.stringify(body)) as unknown };
        case 'createLease':
          body = await coordination.createNamespacedLease({ namespace: c.namespace, body: c.body as V1Lease });
          return { ok: true, code: 201, body: JSON.parse(JSON.stringify(body)) as unknown };
        case 'replaceLease':
          body = await coordination.replaceNamespacedLease({ namespace: c.namespace, name: c.name, body: c.body as V1Lease });
          return { ok: true, code: 200, body: JSON.parse(JSON.stringify(body)) as unknown };
      }
    } catch (e) {
      const code = typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : 0;
      return { ok: false, code, message: e instanceof Error ? e.message.slice(0, 500) : String(e) };
    }
  };
}
