// The kubepods watch over a fake cgroup root (plain directories: the watch only reads names and
// inodes) with a kernel that records attaches: it notices the hierarchy appearing (either driver),
// going and coming back, attaches each time, and drives the reconciler's gate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { err, ok, type Result } from '../../policy/types.ts';
import { KubepodsWatch, kubepodsOf } from '../../enforcer/kubepods.ts';
import type { Gate, Log } from '../../enforcer/reconciler.ts';

class FakeKernel {
  attachedTo: bigint | null = null;
  attaches: string[] = [];
  refuse = false;
  prepared = 0;
  prepareCgroup(): Result<void> { this.prepared++; return ok(undefined); }
  cgroupAttachedTo(): bigint | null { return this.attachedTo; }
  attachCgroup(path: string): Result<bigint> {
    this.attaches.push(path);
    if (this.refuse) return err('E_BPF', 'attach refused');
    this.attachedTo = statSync(path, { bigint: true }).ino;
    return ok(this.attachedTo);
  }
}

class FakeSink {
  events: string[] = [];
  openGate(): number { this.events.push('open'); return 3; }
  closeGate(g: Gate): void { this.events.push(`close ${g.code}`); }
}

function recordingLog(): Log & { msgs: string[] } {
  const msgs: string[] = [];
  return { msgs, info: (_o, m) => msgs.push(m), warn: (_o, m) => msgs.push(m), error: (_o, m) => msgs.push(m), debug() {} };
}

async function until(cond: () => boolean, ms: number): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

for (const name of ['kubepods', 'kubepods.slice']) {
  test(`${name} made after start: noticed, attached, the gate opens; gone: the gate closes; back (a new cgroup): attached again`, async () => {
    const root = mkdtempSync(join(tmpdir(), 'ag-kp-'));
    const kernel = new FakeKernel();
    const sink = new FakeSink();
    const log = recordingLog();
    const changes: boolean[] = [];
    const w = new KubepodsWatch({ root, kernel, log, pollMs: 200, onChange: (e) => changes.push(e) });
    try {
      assert.equal(w.enforcing, false);
      assert.equal(w.gate?.code, 'E_NO_KUBEPODS');
      assert.match(w.gate?.message ?? '', /no kubepods cgroup .* waiting for kubelet/);
      w.start(sink);
      assert.deepEqual(kernel.attaches, [], 'nothing to attach to');
      assert.deepEqual(sink.events, [], 'already closed: not reported again');
      mkdirSync(join(root, name, 'besteffort'), { recursive: true });
      const ms = await until(() => w.enforcing, 2000);
      assert.deepEqual(kernel.attaches, [join(root, name)]);
      assert.deepEqual(sink.events, ['open']);
      assert.deepEqual(changes, [true]);
      assert.ok(log.msgs.includes('kubepods cgroup attached: enforcing'));
      w.check();
      assert.equal(kernel.attaches.length, 1, 'attached once');
      // kubelet's hierarchy removed (a restart that cleans up) and made again
      rmSync(join(root, name), { recursive: true });
      await until(() => !w.enforcing, 2000);
      assert.deepEqual(sink.events, ['open', 'close E_NO_KUBEPODS']);
      assert.equal(kernel.prepared, 1, 'what the next attach needs is loaded when the cgroup goes');
      assert.ok(log.msgs.includes('the kubepods cgroup is gone: not enforcing until it is back'));
      mkdirSync(join(root, name));
      await until(() => w.enforcing, 2000);
      assert.equal(kernel.attaches.length, 2);
      assert.equal(kernel.attachedTo, kubepodsOf(root)?.id);
      assert.deepEqual(changes, [true, false, true]);
      // noticed well inside the poll bound whether or not inotify reported it
      assert.ok(ms < 1500, `${ms} ms`);
    } finally {
      w.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('a kubepods cgroup replaced between two looks (another id) is attached again without a gap in the gate', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-kp-'));
  const kernel = new FakeKernel();
  const sink = new FakeSink();
  const w = new KubepodsWatch({ root, kernel, log: recordingLog(), pollMs: 60_000 });
  try {
    mkdirSync(join(root, 'kubepods'));
    w.start(sink);
    assert.equal(w.enforcing, true);
    const first = kernel.attachedTo;
    // (made before the old one goes: a plain file system may reuse an inode number, cgroupfs never)
    mkdirSync(join(root, 'kubepods.slice'));
    rmSync(join(root, 'kubepods'), { recursive: true });
    w.check();
    assert.equal(kernel.attaches.length, 2);
    assert.notEqual(kernel.attachedTo, first);
    assert.equal(w.enforcing, true);
  } finally {
    w.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test('already attached at start (a restart adopting live links): enforcing, nothing attached again', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-kp-'));
  try {
    mkdirSync(join(root, 'kubepods.slice'));
    const kernel = new FakeKernel();
    kernel.attachedTo = kubepodsOf(root)?.id ?? null;
    const w = new KubepodsWatch({ root, kernel, log: recordingLog(), pollMs: 60_000 });
    assert.equal(w.enforcing, true);
    const sink = new FakeSink();
    w.start(sink);
    w.stop();
    assert.deepEqual(kernel.attaches, []);
    assert.deepEqual(sink.events, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('links to a kubepods cgroup that is gone (made again while no enforcer ran): not enforcing until attached to the new one', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-kp-'));
  try {
    mkdirSync(join(root, 'kubepods'));
    const kernel = new FakeKernel();
    kernel.attachedTo = 12345n; // another cgroup
    const w = new KubepodsWatch({ root, kernel, log: recordingLog(), pollMs: 60_000 });
    assert.equal(w.enforcing, false);
    assert.match(w.gate?.message ?? '', /not attached yet/);
    const sink = new FakeSink();
    w.start(sink);
    w.stop();
    assert.equal(w.enforcing, true);
    assert.deepEqual(sink.events, ['open']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('an attach the kernel refuses: not enforcing, the reason says so, logged once, tried again at each look', () => {
  const root = mkdtempSync(join(tmpdir(), 'ag-kp-'));
  try {
    mkdirSync(join(root, 'kubepods'));
    const kernel = new FakeKernel();
    kernel.refuse = true;
    const log = recordingLog();
    const w = new KubepodsWatch({ root, kernel, log, pollMs: 60_000 });
    const sink = new FakeSink();
    w.start(sink);
    w.check();
    assert.equal(w.enforcing, false);
    assert.match(w.gate?.message ?? '', /attaching to the kubepods cgroup .* failed: attach refused/);
    assert.equal(log.msgs.filter((m) => m.startsWith('attaching to the kubepods cgroup failed')).length, 1);
    assert.equal(kernel.attaches.length, 2);
    kernel.refuse = false;
    w.check();
    w.stop();
    assert.equal(w.enforcing, true);
    assert.deepEqual(sink.events, ['open']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
