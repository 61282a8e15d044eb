// Scenarios that go wrong on purpose, for the harness's own test (test/vm/harness/harness.test.ts):
// each failure must be reported as that scenario's failure, and the runner must go on.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { scenario } from '../../../vm/guest/scenario.ts';

scenario('fault: hangs past its timeout', async (ctx) => {
  await ctx.mkCgroup('ag-fault/hang');
  ctx.startIn('ag-fault/hang', ['sleep', '1000']);
  ctx.log('about to hang');
  await new Promise(() => {});
}, { timeoutMs: 3000 });

scenario('fault: assertion fails', async (ctx) => {
  ctx.log('before the assertion');
  assert.equal(1 + 1, 3, 'arithmetic is broken');
});

scenario('fault: uncaught error from a timer', async () => {
  setTimeout(() => { throw new Error('thrown from a timer'); }, 10);
  await new Promise((r) => setTimeout(r, 2000));
});

scenario('fault: the next scenario still runs, after clean-up', async () => {
  assert.ok(!existsSync('/sys/fs/cgroup/ag-fault'), 'the timed-out scenario\'s cgroup was removed');
});
