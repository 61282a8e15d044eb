// The node enforcer in the VM: both kernels, both attach modes, the real `armorgate enforcer`
// process on a --pods-dir (see test/vm/scenarios/enforcer-*.ts).
import { registerVmTests } from '../../vm/harness/index.ts';

registerVmTests('enforcer', {
  suites: ['test/vm/scenarios/enforcer-e2e.ts', 'test/vm/scenarios/enforcer-lifecycle.ts', 'test/vm/scenarios/enforcer-kubepods.ts', 'test/vm/scenarios/enforcer-grpc.ts'],
  kernels: ['6.12', '6.1'],
  attachModes: ['cgroup', 'global'],
  timeoutMs: 900_000,
});
