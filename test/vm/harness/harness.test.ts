// The harness's own tests: the marker protocol on the host, and one short boot with scenarios that
// fail on purpose (each reported as its own failure, the runner going on), plus a boot whose budget
// runs out (qemu killed, the run reported as an error, never a hang).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeStream, encodeMessage } from '../../../vm/guest/protocol.ts';
import { guestCrash, runSuite, vmUnavailableReason } from '../../../vm/harness/index.ts';

test('marker protocol: round trip, ignores console noise, reports gaps and garbage', () => {
  const a = encodeMessage(0, { t: 'hello', kernel: 'k', uptimeMs: 1, node: 'v24' });
  const b = encodeMessage(1, { t: 'start', name: 'x', suite: 's' });
  const d = encodeMessage(3, { t: 'done', failed: 0, total: 1 });
  const text = `noise\r\n${a.replace('\n', '\r\n')}[ 1.0] kernel says hi\n${b}${d}@@AG 4 !!!notbase64json\n`;
  const { messages, problems } = decodeStream(text);
  assert.deepEqual(messages.map((m) => m.t), ['hello', 'start', 'done']);
  assert.equal(problems.length, 2);
  assert.match(problems[0] ?? '', /marker 2 missing/);
  assert.match(problems[1] ?? '', /undecodable marker 4/);
});

test('guestCrash: a crashed emulated machine is told from a failed check', () => {
  const ok = { name: 'a', suite: 's', ok: true, output: '', ms: 1 };
  const failed = (output: string, error = 'AssertionError: expected 0') => ({ name: 'b', suite: 's', ok: false, error, output, ms: 1 });
  assert.equal(guestCrash({ console: 'ag-vm: runner up\nreboot: Power down', results: [ok, failed('exit 1')] }), null, 'an assertion is not a crash');
  assert.equal(guestCrash({ console: '', results: [failed('$ dpkg → signal SIGKILL')] }), null, 'a timeout kill is not a crash');
  assert.match(guestCrash({ console: '[  125.5] Kernel panic - not syncing: Fatal exception in interrupt\n', results: [] }) ?? '', /Fatal exception in interrupt/);
  assert.match(guestCrash({ console: '[ 3.1] BUG: kernel NULL pointer dereference, address: 0\n', results: [] }) ?? '', /NULL pointer/);
  assert.match(guestCrash({ console: 'Segmentation fault\nag-stage2: runner exited with status 139\n', results: [] }) ?? '', /signal 11/);
  assert.equal(guestCrash({ console: 'ag-stage2: runner exited with status 1\n', results: [] }), null);
  assert.match(guestCrash({ console: '', results: [ok, failed('', 'enforcer exited (signal SIGTRAP) while waiting for the ready log line')] }) ?? '', /SIGTRAP in "b"/);
});

test('vm: a failing, hanging or crashing scenario is its own failure; the runner goes on', { timeout: 300_000 }, async (t) => {
  const reason = await vmUnavailableReason(['6.1']);
  if (reason) return t.skip(`VM tests skipped: ${reason}`);
  const run = await runSuite({ kernel: '6.1', attachMode: 'cgroup', suites: ['test/vm/guest/faults.scenario.ts'], timeoutMs: 180_000 });
  assert.equal(run.error, undefined, run.console.slice(-3000));
  const by = new Map(run.results.map((r) => [r.name, r]));
  assert.equal(run.results.length, 4);
  assert.match(by.get('fault: hangs past its timeout')?.error ?? '', /timed out after 3000 ms/);
  assert.match(by.get('fault: hangs past its timeout')?.output ?? '', /about to hang/);
  assert.match(by.get('fault: assertion fails')?.error ?? '', /arithmetic is broken/);
  assert.match(by.get('fault: assertion fails')?.output ?? '', /before the assertion/);
  assert.match(by.get('fault: uncaught error from a timer')?.error ?? '', /thrown from a timer/);
  assert.equal(by.get('fault: the next scenario still runs, after clean-up')?.ok, true, by.get('fault: the next scenario still runs, after clean-up')?.error);
  t.diagnostic(`runner up ${run.bootMs} ms after qemu start`);
});

test('vm: a boot past its budget is killed and reported with its console', { timeout: 120_000 }, async (t) => {
  const reason = await vmUnavailableReason(['6.1']);
  if (reason) return t.skip(`VM tests skipped: ${reason}`);
  const t0 = Date.now();
  const run = await runSuite({ kernel: '6.1', attachMode: 'cgroup', suites: ['test/vm/guest/faults.scenario.ts'], timeoutMs: 2500 });
  assert.ok(Date.now() - t0 < 30_000, 'returned promptly');
  assert.match(run.error ?? '', /killed/);
  assert.match(run.console, /timeout after 2500 ms/);
});
