// The node enforcer in the VM: both kernels, both attach modes, the real `armorgate enforcer`
// process on a --pods-dir or the API server (see test/vm/scenarios/enforcer-*.ts); the swap of a
// running pod's rules in a real container (bench/scenarios/swap.ts, which bench:swap runs too);
// --cleanup last (enforcer-cleanup.ts ends the boot's shared enforcer, which every suite before
// it uses). Shared helpers: vm/guest/kit/.
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('enforcer', {
  suites: ['test/vm/scenarios/enforcer-e2e.ts', 'test/vm/scenarios/enforcer-lifecycle.ts', 'test/vm/scenarios/enforcer-kubepods.ts', 'test/vm/scenarios/enforcer-grpc.ts', 'bench/scenarios/swap.ts', 'test/vm/scenarios/enforcer-cleanup.ts'],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  containers: true,
  timeoutMs: 1_500_000,
  scenarioTimeoutMs: 600_000,
});
