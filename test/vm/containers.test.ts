// Real runc containers in the guest (ctx.container), both kubelet cgroup drivers, and a kernel rule
// that denies in a pod's container but not in a control one, the seed's cases and issue 15's
// attacks in containers: on 6.12 and 6.1, both attach modes.
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('real containers', {
  suites: ['test/vm/scenarios/containers.ts', 'test/vm/scenarios/kernel-seed.ts', 'test/vm/scenarios/container-attacks.ts', 'test/vm/scenarios/container-runtime.ts'],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  // one boot took 341 s on 6.12 with two vCPUs while other engineers' guests shared the machine
  timeoutMs: 720_000,
  scenarioTimeoutMs: 150_000,
});
