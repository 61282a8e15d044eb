// `armorgate probe --json` on this machine, through the real CLI: the exit code follows canEnforce,
// every problem carries a remediation, and a kernel that lists bpf but refuses LSM programs (the build
// machines do) is called out as such.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ProbeReport } from '../../enforcer/probe.ts';

const root = join(import.meta.dirname, '..', '..');

test('armorgate probe --json reports this machine consistently', () => {
  const r = spawnSync(process.execPath, [join(root, 'bin/armorgate.js'), 'probe', '--json'], { encoding: 'utf8', timeout: 60_000 });
  const report = JSON.parse(r.stdout) as ProbeReport;
  for (const k of ['kernel', 'uek', 'lsm', 'btf', 'lockdown', 'cgroup', 'attachMode', 'canEnforce', 'problems']) assert.ok(k in report, k);
  assert.equal(r.status, report.canEnforce ? 0 : 1);
  assert.ok(['cgroup', 'global', 'none'].includes(report.attachMode));
  if (report.canEnforce) assert.notEqual(report.attachMode, 'none');
  for (const p of report.problems) assert.ok(p.code && p.message && p.remediation, JSON.stringify(p));
  if (report.lsm.bpfListed === true && !report.lsm.programsLoad && !report.problems.some((p) => p.code === 'LSM_PROBE_UNAVAILABLE')) {
    assert.ok(report.problems.some((p) => /lists bpf among its LSMs yet refuses LSM programs/.test(p.message)),
      'a kernel listing bpf that refuses LSM programs is named as such');
  }
  const human = spawnSync(process.execPath, [join(root, 'bin/armorgate.js'), 'probe'], { encoding: 'utf8', timeout: 60_000 });
  assert.match(human.stdout, /can enforce: (yes|no)/);
});
