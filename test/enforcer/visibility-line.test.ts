// visibilityLogLine writes the line of a visibility log without building its object: it must be
// exactly logLine(visibilityLog(…)) for every input, the who part it keeps included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logLine, visibilityLog, visibilityLogLine, type LogInput } from '../../enforcer/visibility.ts';
import type { AlertContext } from '../../enforcer/alerts.ts';

const base: AlertContext = {
  clusterName: 'oke-1', hostName: 'node-1', namespace: 'shop', podName: 'web', labels: { app: 'web' },
  containerId: 'a'.repeat(64), containerName: 'app', containerImage: 'debian:12-slim', owner: { Ref: 'ReplicaSet', Name: 'web-1', Namespace: 'shop' },
  parentProcessName: '/bin/bash',
};
const file: LogInput = { pid: 4242, ppid: 4200, uid: 0, exe: '/usr/bin/cat', source: '/usr/bin/cat', target: '/etc/os-release', hook: 'open', kind: 'file', denied: false, errno: 0 };

test('visibilityLogLine is logLine(visibilityLog(…)): files, processes, sockets, capabilities; escapes, Unicode, owner or none, a context that changes between lines', () => {
  const cases: [LogInput, AlertContext, string][] = [
    [file, base, 'app=web'],
    [file, base, 'app=web'], // the who part reused
    [{ ...file, target: '/tmp/a "quoted"\\ name\nwith\tcontrols\u0001 and ünïcødé ✓' }, base, 'app=web'],
    [{ ...file, exe: '/opt/ä/bin', source: '' }, { ...base, owner: null }, ''],
    [{ ...file, kind: 'process', hook: 'exec', target: '/usr/bin/python3' }, { ...base, owner: undefined, containerImage: undefined }, 'a=b,c=d'],
    [{ ...file, kind: 'network', hook: 'socket', target: 'tcp', sock: { family: 10, type: 1 | 0o4000, protocol: 6 } }, { ...base, podName: 'other' }, 'app=web'],
    [{ ...file, kind: 'capabilities', hook: 'capable', target: 'CAP_NET_RAW', uid: 1000 }, { ...base, containerId: '', containerName: '' }, 'app=web'],
    [file, { ...base, namespace: 'n"s' }, 'k="v"'],
    [file, base, 'app=web'], // back to the first context
  ];
  for (const [i, [e, ctx, labels]] of cases.entries()) {
    for (const now of [new Date(1_767_323_045_678), new Date(1_767_323_045_678), new Date(1_767_323_046_001)]) {
      assert.equal(visibilityLogLine(e, ctx, labels, now), logLine(visibilityLog(e, ctx, labels, now)), `case ${i} at ${now.toISOString()}`);
    }
  }
});

test('visibilityLogLine: a context object changed in place between two lines is written as it is now', () => {
  const ctx = { ...base };
  const now = new Date(1_767_323_045_678);
  visibilityLogLine(file, ctx, 'app=web', now);
  ctx.containerName = 'sidecar';
  ctx.owner = { Ref: 'Job', Name: 'j', Namespace: 'shop' };
  assert.equal(visibilityLogLine(file, ctx, 'app=web', now), logLine(visibilityLog(file, ctx, 'app=web', now)));
  ctx.owner.Name = 'j2'; // the same owner object, changed
  assert.equal(visibilityLogLine(file, ctx, 'app=web', now), logLine(visibilityLog(file, ctx, 'app=web', now)));
});

test('visibilityLogLine: programs, sources and parents that alternate (a shell and what it runs), then a third, are each written as they are', () => {
  const now = new Date(1_767_323_045_678);
  const sh: LogInput = { ...file, exe: '/bin/sh', source: '/bin/sh', kind: 'process', hook: 'exec', target: '/usr/bin/cat' };
  const seq: [LogInput, string][] = [[sh, '/bin/bash'], [file, '/bin/sh'], [sh, '/bin/bash'], [file, '/bin/sh'], [{ ...file, exe: '/bin/x', source: '/bin/y' }, '/bin/z'], [sh, '/bin/bash'], [file, '/bin/sh'], [file, '/bin/sh']];
  for (const [i, [e, parent]] of seq.entries()) {
    const ctx = { ...base, parentProcessName: parent };
    assert.equal(visibilityLogLine(e, ctx, 'app=web', now), logLine(visibilityLog(e, ctx, 'app=web', now)), `line ${i}`);
  }
});
