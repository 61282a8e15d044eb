// vm/harness/bench-run.ts with a stand-in for runSuite: a crashed boot is booted again and its
// figures dropped; a failed scenario is not retried; the attempts are bounded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runBench } from '../../../vm/harness/bench-run.ts';
import type { RunSuiteOptions, SuiteRun } from '../../../vm/harness/index.ts';

const OPTS: RunSuiteOptions = { kernel: '6.12', attachMode: 'cgroup', suites: ['x.ts'], timeoutMs: 1000 };

function fake(boots: { crash: boolean; ok: boolean; figure: number }[]): { run: (o: RunSuiteOptions) => Promise<SuiteRun>; count: () => number } {
  let i = 0;
  return {
    count: () => i,
    run: async (o) => {
      const b = boots[i++]!;
      o.onEvent?.('bench', { figure: b.figure });
      await Promise.resolve();
      return {
        results: [{ name: 's', suite: 'x.ts', ok: b.ok, output: '', ms: 1, ...(b.ok ? {} : { error: 'a check failed' }) }],
        console: b.crash ? 'BUG: unable to handle page fault\n' : 'ok\n', bootMs: 1, totalMs: 2,
      } as SuiteRun;
    },
  };
}

test('runBench: a crashed boot is booted again; only the last boot\'s figures are handed on, and the crash is told', async () => {
  const f = fake([{ crash: true, ok: true, figure: 1 }, { crash: false, ok: true, figure: 2 }]);
  const got: unknown[] = [];
  const progress: string[] = [];
  const r = await runBench({ ...OPTS, onEvent: (_n, d) => got.push(d), onProgress: (l) => progress.push(l) }, 3, f.run);
  assert.equal(f.count(), 2);
  assert.deepEqual(got, [{ figure: 2 }]);
  assert.ok(r.results[0]!.ok);
  assert.match(progress.join('\n'), /the guest crashed \(guest kernel: BUG: unable to handle page fault\): its figures are dropped, boot 2 of at most 3/);
});

test('runBench: a failed check is not retried; crashes stop at the bound, with the last boot\'s figures', async () => {
  const failed = fake([{ crash: false, ok: false, figure: 1 }, { crash: false, ok: true, figure: 2 }]);
  const got: unknown[] = [];
  await runBench({ ...OPTS, onEvent: (_n, d) => got.push(d) }, 3, failed.run);
  assert.equal(failed.count(), 1);
  assert.deepEqual(got, [{ figure: 1 }]);
  const crashing = fake([{ crash: true, ok: true, figure: 1 }, { crash: true, ok: true, figure: 2 }, { crash: true, ok: true, figure: 3 }, { crash: false, ok: true, figure: 4 }]);
  const got2: unknown[] = [];
  await runBench({ ...OPTS, onEvent: (_n, d) => got2.push(d) }, 3, crashing.run);
  assert.equal(crashing.count(), 3);
  assert.deepEqual(got2, [{ figure: 3 }]);
});
