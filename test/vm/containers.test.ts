// Everything the kernel side does in real runc containers (ctx.container), in one boot per kernel ×
// attach mode (6.12 and 6.1, both modes): both kubelet cgroup drivers and a rule that denies in a
// pod's container but not in a control one, the seed's cases, issue 15's attacks, the runtime
// entering a pod; matchPatterns (bpf/pattern.h); readOnly/ownerOnly as KubeArmor means them (every
// cell of the table as the owner, root and another user), hard links, and KubeArmor's own scenario
// steps (its policies read in place from ../shared/kubearmor; skipped, saying so, when absent).
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { registerVmTests } from '../../vm/harness/index.ts';
import { KUBEARMOR_DATA } from '../policy/kubearmor-data.ts';
import { KA_SCENARIOS } from '../support/kubearmor-steps.ts';

const CORPUS = join(KUBEARMOR_DATA, 'corpus');
const haveCorpus = existsSync(CORPUS);

registerVmTests('real containers', {
  suites: [
    'test/vm/scenarios/containers.ts', 'test/vm/scenarios/kernel-seed.ts', 'test/vm/scenarios/container-attacks.ts', 'test/vm/scenarios/container-runtime.ts',
    'test/vm/scenarios/kernel-patterns.ts',
    'test/vm/scenarios/owner-cells.ts', 'test/vm/scenarios/hardlinks.ts', ...(haveCorpus ? ['test/vm/scenarios/kubearmor-steps.ts'] : []),
  ],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  // the three suites of separate boots took 341, 111 and 184 s on 6.12 with two vCPUs while
  // other engineers' guests shared the machine
  timeoutMs: 1_800_000,
  scenarioTimeoutMs: 240_000,
});

if (!haveCorpus) test('vm: KubeArmor scenario steps', { skip: `${CORPUS} is absent: KubeArmor's policies are read in place, never copied` }, () => {});
for (const ka of KA_SCENARIOS.filter((k) => k.todo)) {
  test(`vm: kubearmor ${ka.name}: ${ka.steps.length} steps`, { todo: ka.todo }, () => {});
}
