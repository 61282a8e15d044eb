// In a cluster the enforcer tells users where pods are protected: the node label
// armorgate.io/enforcement=bpf-lsm|waiting|unavailable (a JSON merge patch of metadata.labels);
// `waiting`: it can enforce but does not yet (no kubepods cgroup to attach to).
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { err, ok, type Result } from '../policy/types.ts';

export const ENFORCEMENT_LABEL = 'armorgate.io/enforcement';
export type EnforcementState = 'bpf-lsm' | 'waiting' | 'unavailable';

export async function labelNode(kc: KubeConfig, nodeName: string, state: EnforcementState): Promise<Result<void>> {
  try {
    const api = kc.makeApiClient(CoreV1Api);
    await api.patchNode(
      { name: nodeName, body: { metadata: { labels: { [ENFORCEMENT_LABEL]: state } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    return ok(undefined);
  } catch (e) {
    return err('E_NODE_LABEL', `labelling node ${nodeName} ${ENFORCEMENT_LABEL}=${state} failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
