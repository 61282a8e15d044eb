// The enforcer follows a running pod's annotation changes, in a real container, from the pods
// folder and from the API server (test/vm/scenarios/enforcer-swap.ts).
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('enforcer swap', {
  suites: ['test/vm/scenarios/enforcer-swap.ts'],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  timeoutMs: 900_000,
  scenarioTimeoutMs: 600_000,
});
