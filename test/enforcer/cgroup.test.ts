// Pod → cgroup over real kubelet layouts (both drivers, every QoS class, containerd / CRI-O / docker
// scopes), built as plain directories in a temporary root: the resolver only reads names and inodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CgroupResolver, containerFromCgroupName, parseContainerId, podCgroupRelPath, podUidFromCgroupName, qosClassOf,
} from '../../enforcer/cgroup.ts';

const UID = '8c3f4d2e-1b7a-4c6e-9f0d-2a5b6c7d8e9f';
const UID_ = '8c3f4d2e_1b7a_4c6e_9f0d_2a5b6c7d8e9f';
const CID = 'a'.repeat(60) + '0123';
const CID2 = 'b'.repeat(60) + '4567';

// Real paths as kubelet + the runtime create them (seen on OKE / kind / CRI-O nodes).
const LAYOUTS = [
  { driver: 'systemd', qos: 'Burstable', pod: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, container: `cri-containerd-${CID}.scope` },
  { driver: 'systemd', qos: 'BestEffort', pod: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice`, container: `cri-containerd-${CID}.scope` },
  { driver: 'systemd', qos: 'Guaranteed', pod: `kubepods.slice/kubepods-pod${UID_}.slice`, container: `cri-containerd-${CID}.scope` },
  { driver: 'systemd', qos: 'Burstable', pod: `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`, container: `crio-${CID}.scope`, monitor: `crio-conmon-${CID}.scope` },
  { driver: 'systemd', qos: 'Guaranteed', pod: `kubepods.slice/kubepods-pod${UID_}.slice`, container: `crio-${CID}.scope` },
  { driver: 'systemd', qos: 'BestEffort', pod: `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice`, container: `docker-${CID}.scope` },
  { driver: 'cgroupfs', qos: 'Burstable', pod: `kubepods/burstable/pod${UID}`, container: CID },
  { driver: 'cgroupfs', qos: 'BestEffort', pod: `kubepods/besteffort/pod${UID}`, container: CID },
  { driver: 'cgroupfs', qos: 'Guaranteed', pod: `kubepods/pod${UID}`, container: CID },
  { driver: 'cgroupfs', qos: 'Burstable', pod: `kubepods/burstable/pod${UID}`, container: `crio-${CID}` },
] as const;

for (const l of LAYOUTS) {
  test(`resolves ${l.driver} ${l.qos} pod and container ${l.container.slice(0, 16)}…`, () => {
    const root = mkdtempSync(join(tmpdir(), 'ag-cg-'));
    try {
      assert.equal(podCgroupRelPath(l.driver, l.qos, UID), l.pod);
      const podDir = join(root, l.pod);
      mkdirSync(join(podDir, l.container), { recursive: true });
      if ('monitor' in l) mkdirSync(join(podDir, l.monitor));
      mkdirSync(join(podDir, `cri-containerd-${CID2}.scope`)); // the sandbox / another container
      const r = new CgroupResolver(root);
      for (const qos of [l.qos, null] as const) {
        const pod = r.podCgroup(UID, qos);
        assert.ok(pod, `pod cgroup found with qos ${String(qos)}`);
        assert.equal(pod.path, podDir);
        assert.equal(pod.id, statSync(podDir, { bigint: true }).ino);
      }
      const c = r.containerCgroup(podDir, CID);
      assert.ok(c);
      assert.equal(c.path, join(podDir, l.container), 'the container scope, never the conmon monitor');
      assert.equal(c.id, statSync(c.path, { bigint: true }).ino);
      assert.equal(r.containerCgroup(podDir, 'c'.repeat(64)), null);
      // the wrong QoS class does not find it
      const other = l.qos === 'Burstable' ? 'BestEffort' : 'Burstable';
      assert.equal(r.podCgroup(UID, other), null);
      const live = r.livePods();
      assert.equal(live.length, 1);
      assert.equal(live[0]?.uid, UID);
      assert.ok(live[0]?.containers.some((x) => x.id === CID && !x.monitor));
      assert.ok(r.liveIds().has(c.id) && r.liveIds().has(pod(r).id));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

function pod(r: CgroupResolver) {
  const p = r.podCgroup(UID, null);
  assert.ok(p);
  return p;
}

test('pod cgroup names map back to the pod UID, other names to null', () => {
  const cases: [string, string | null][] = [
    [`kubepods-burstable-pod${UID_}.slice`, UID],
    [`kubepods-besteffort-pod${UID_}.slice`, UID],
    [`kubepods-pod${UID_}.slice`, UID],
    [`pod${UID}`, UID],
    ['kubepods-burstable.slice', null],
    ['burstable', null],
    [`cri-containerd-${CID}.scope`, null],
    [`pod${UID_}`, null],
    ['kubepods-burstable-podnot-a-uid.slice', null],
  ];
  for (const [name, want] of cases) assert.equal(podUidFromCgroupName(name), want, name);
});

test('container scopes and status container IDs', () => {
  assert.deepEqual(containerFromCgroupName(`cri-containerd-${CID}.scope`), { runtime: 'containerd', id: CID, monitor: false });
  assert.deepEqual(containerFromCgroupName(`crio-conmon-${CID}.scope`), { runtime: 'cri-o', id: CID, monitor: true });
  assert.deepEqual(containerFromCgroupName(`crio-${CID}`), { runtime: 'cri-o', id: CID, monitor: false });
  assert.deepEqual(containerFromCgroupName(CID), { runtime: 'unknown', id: CID, monitor: false });
  assert.equal(containerFromCgroupName('init.scope'), null);
  assert.deepEqual(parseContainerId(`containerd://${CID}`), { runtime: 'containerd', id: CID });
  assert.deepEqual(parseContainerId(`cri-o://${CID}`), { runtime: 'cri-o', id: CID });
  assert.equal(parseContainerId(''), null);
  assert.equal(parseContainerId(undefined), null);
  assert.equal(qosClassOf('Burstable'), 'Burstable');
  assert.equal(qosClassOf('burstable'), null);
});

test('a missing root or hierarchy yields nothing, never a throw', () => {
  const r = new CgroupResolver('/nonexistent/armorgate');
  assert.equal(r.podCgroup(UID, null), null);
  assert.deepEqual(r.livePods(), []);
  assert.equal(r.containerCgroup('/nonexistent', CID), null);
});
