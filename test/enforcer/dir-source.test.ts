// The --pods-dir source: complete sets on start and on every change, bad files reported, not fatal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Pod } from '../../policy/types.ts';
import { DirPodSource, loadPodsDir } from '../../enforcer/sources/dir.ts';
import type { Log } from '../../enforcer/reconciler.ts';

const warnings: object[] = [];
const log: Log = { info() {}, warn(o) { warnings.push(o); }, error() {}, debug() {} };

function pod(n: number, nodeName?: string): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: `p${n}`, namespace: 'default', uid: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` },
    spec: { containers: [{ name: 'c' }], ...(nodeName ? { nodeName } : {}) },
  };
}

function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) resolve();
      else if (Date.now() - t0 > ms) reject(new Error('timed out'));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

test('loads YAML and JSON manifests, multi-document and List, skipping other nodes and bad documents', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-pods-'));
  try {
    writeFileSync(join(dir, 'a.yaml'), `${stringify(pod(1))}---\n${stringify(pod(2, 'node-1'))}`);
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ kind: 'List', items: [pod(3), pod(4, 'other-node')] }));
    writeFileSync(join(dir, 'c.yml'), 'kind: Pod\nmetadata: {name: nouid}\n');
    writeFileSync(join(dir, 'd.yaml'), 'kind: [unclosed\n');
    writeFileSync(join(dir, 'e.yaml'), stringify({ kind: 'ConfigMap', metadata: { name: 'x' } }));
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const { pods, problems, notes } = await loadPodsDir(dir, 'node-1');
    assert.deepEqual(pods.map((p) => p.metadata?.name), ['p1', 'p2', 'p3']);
    assert.equal(problems.length, 4);
    const other = problems.find((p) => p.file.endsWith('b.json'));
    assert.equal(other?.pod, 'default/p4');
    assert.match(other?.message ?? '', /is for node "other-node", this is node "node-1"/, 'another node\'s pod is named, with both nodes');
    assert.deepEqual(notes.map((n) => n.pod), ['default/p1', 'default/p2', 'default/p3'], 'unsigned pods are noted, and still delivered');
    assert.match(notes[0]?.message ?? '', /no armorgate.io\/profile-signature annotation/);
    assert.ok(problems.some((p) => p.file.endsWith('c.yml') && /no metadata.uid/.test(p.message)));
    assert.ok(problems.some((p) => p.file.endsWith('d.yaml')));
    assert.ok(problems.some((p) => p.file.endsWith('e.yaml') && /not a Pod/.test(p.message)));
    assert.equal((await loadPodsDir(join(dir, 'missing'), 'node-1')).problems.length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('delivers the complete set at start and again after every change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-pods-'));
  const syncs: string[][] = [];
  const src = new DirPodSource({ dir, nodeName: 'node-1', log, debounceMs: 20, pollMs: 0 });
  try {
    writeFileSync(join(dir, 'p1.yaml'), stringify(pod(1)));
    await src.start({
      sync: (pods) => syncs.push(pods.map((p) => p.metadata?.name ?? '')),
      upsert: () => assert.fail('a folder only delivers complete sets'),
      remove: () => assert.fail('a folder only delivers complete sets'),
    });
    assert.deepEqual(syncs, [['p1']]);
    writeFileSync(join(dir, '.p2.tmp'), stringify(pod(2)));
    renameSync(join(dir, '.p2.tmp'), join(dir, 'p2.yaml'));
    await waitFor(() => JSON.stringify(syncs.at(-1)) === JSON.stringify(['p1', 'p2']));
    unlinkSync(join(dir, 'p1.yaml'));
    await waitFor(() => JSON.stringify(syncs.at(-1)) === JSON.stringify(['p2']));
  } finally {
    await src.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the safety poll notices changes when notifications are missed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-pods-'));
  const syncs: number[] = [];
  const src = new DirPodSource({ dir, nodeName: 'node-1', log, debounceMs: 10, pollMs: 50 });
  try {
    await src.start({ sync: (pods) => syncs.push(pods.length), upsert() {}, remove() {} });
    writeFileSync(join(dir, 'p1.json'), JSON.stringify(pod(1)));
    await waitFor(() => syncs.at(-1) === 1);
  } finally {
    await src.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload re-reads only the files that changed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-pods-'));
  try {
    writeFileSync(join(dir, 'a.json'), JSON.stringify(pod(1)));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(pod(2)));
    const cache = new Map();
    const first = await loadPodsDir(dir, 'node-1', cache);
    const second = await loadPodsDir(dir, 'node-1', cache);
    assert.equal(second.pods[0], first.pods[0], 'the unchanged file was not parsed again');
    const changed = { ...pod(2), metadata: { ...pod(2).metadata, labels: { v: '2' } } };
    writeFileSync(join(dir, 'b.json'), JSON.stringify(changed));
    const third = await loadPodsDir(dir, 'node-1', cache);
    assert.equal(third.pods[0], first.pods[0]);
    assert.deepEqual(third.pods[1]?.metadata?.labels, { v: '2' });
    unlinkSync(join(dir, 'a.json'));
    const fourth = await loadPodsDir(dir, 'node-1', cache);
    assert.deepEqual(fourth.pods.map((p) => p.metadata?.name), ['p2']);
    assert.equal(cache.size, 1, 'entries of deleted files are dropped');
    writeFileSync(join(dir, 'bad.json'), '{"kind": "Pod",');
    assert.match((await loadPodsDir(dir, 'node-1', cache)).problems[0]?.message ?? '', /document 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
