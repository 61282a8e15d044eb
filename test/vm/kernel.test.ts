// Everything the kernel side does, in one boot per kernel × attach mode (6.12 and 6.1, both
// modes), sharing the boot's BPF load:
// - in real runc containers (ctx.container): both kubelet cgroup drivers and a rule that denies in
//   a pod's container but not in a control one, the seed's cases, issue 15's attacks, the runtime
//   entering a pod; matchPatterns (bpf/pattern.h); readOnly/ownerOnly as KubeArmor means them
//   (every cell of the table as the owner, root and another user), hard links, and KubeArmor's
//   own scenario steps (its policies read in place from ../shared/kubearmor; skipped, saying so,
//   when absent);
// - with shells moved into kubelet-style cgroups (the kernel-* suites): every rule kind, the life
//   of pods and of the programs (restart, upgrade across map layouts, rate limits, a full ring
//   buffer), the limits, the attacks;
// - the enforcer DaemonSet's capabilities (test/manifests/capabilities*.scenario.ts), on the 6.12
//   cgroup boot only.
// Scenarios about what the programs decide (the same code in both modes) run once per kernel: see
// test/vm/README.md.
import { test } from 'node:test';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { registerVmTests } from '../../vm/harness/index.ts';
import { KUBEARMOR_DATA } from '../policy/kubearmor-data.ts';
import { KA_SCENARIOS } from '../support/kubearmor-steps.ts';

const CORPUS = join(KUBEARMOR_DATA, 'corpus');
const haveCorpus = existsSync(CORPUS);

registerVmTests('kernel enforcement, in real containers and kubelet-style cgroups', {
  suites: [
    'test/vm/scenarios/containers.ts', 'test/vm/scenarios/kernel-seed.ts', 'test/vm/scenarios/container-attacks.ts', 'test/vm/scenarios/container-runtime.ts',
    'test/vm/scenarios/kernel-patterns.ts',
    'test/vm/scenarios/owner-cells.ts', 'test/vm/scenarios/hardlinks.ts', ...(haveCorpus ? ['test/vm/scenarios/kubearmor-steps.ts'] : []),
    'test/vm/scenarios/kernel-exec.ts',
    'test/vm/scenarios/kernel-file.ts',
    'test/vm/scenarios/kernel-net.ts',
    'test/vm/scenarios/kernel-limits.ts',
    'test/vm/scenarios/kernel-attacks.ts',
    'test/vm/scenarios/kernel-opencache.ts',
    // last of the kernel suites: its restart, clean-up and upgrade scenarios close the boot's kernel
    'test/vm/scenarios/kernel-life.ts',
    'test/manifests/capabilities.scenario.ts',
    'test/manifests/capabilities-enforcer.scenario.ts',
  ],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  // kernel-limits.ts: the budget of one hostile profile's load (default 1 s)
  env: { AG_VM_LOAD_BUDGET_MS: process.env.AG_VM_LOAD_BUDGET_MS ?? '1000' },
  timeoutMs: 1_800_000,
  scenarioTimeoutMs: 240_000,
});

if (!haveCorpus) test('vm: KubeArmor scenario steps', { skip: `${CORPUS} is absent: KubeArmor's policies are read in place, never copied` }, () => {});
for (const ka of KA_SCENARIOS.filter((k) => k.todo)) {
  test(`vm: kubearmor ${ka.name}: ${ka.steps.length} steps`, { todo: ka.todo }, () => {});
}
