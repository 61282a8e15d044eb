// Host-side checks of the container support (no VM): kubelet's cgroup paths for both drivers and
// every QoS class, and where the containers' root is fetched from.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { containerCgroupPath, DEFAULT_CAPABILITIES } from '../../../vm/guest/container.ts';
import { debianMirror } from '../../../vm/harness/rootfs.ts';

const UID = '0f1e2d3c-4b5a-6978-8a9b-acbdcedfe0f1';
const ID = 'a'.repeat(64);

test('container cgroups are where kubelet puts them, for both drivers and every QoS class', () => {
  const u = UID.replaceAll('-', '_');
  assert.equal(containerCgroupPath(ID, { uid: UID }), `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${u}.slice/cri-containerd-${ID}.scope`);
  assert.equal(containerCgroupPath(ID, { uid: UID, qos: 'burstable' }, 'systemd'), `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${u}.slice/cri-containerd-${ID}.scope`);
  assert.equal(containerCgroupPath(ID, { uid: UID, qos: 'guaranteed' }, 'systemd'), `/kubepods.slice/kubepods-pod${u}.slice/cri-containerd-${ID}.scope`);
  assert.equal(containerCgroupPath(ID, { uid: UID, qos: 'besteffort' }, 'cgroupfs'), `/kubepods/besteffort/pod${UID}/${ID}`);
  assert.equal(containerCgroupPath(ID, { uid: UID, qos: 'burstable' }, 'cgroupfs'), `/kubepods/burstable/pod${UID}/${ID}`);
  assert.equal(containerCgroupPath(ID, { uid: UID, qos: 'guaranteed' }, 'cgroupfs'), `/kubepods/pod${UID}/${ID}`);
  assert.equal(containerCgroupPath(ID, undefined), `/system.slice/ctl-${ID.slice(0, 12)}.scope`);
});

test("containerd's default capabilities, no more", () => {
  assert.deepEqual([...DEFAULT_CAPABILITIES].sort(), ['CAP_AUDIT_WRITE', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
    'CAP_MKNOD', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW', 'CAP_SETFCAP', 'CAP_SETGID', 'CAP_SETPCAP', 'CAP_SETUID', 'CAP_SYS_CHROOT']);
});

test("the containers' root comes from the host's own Debian mirror", () => {
  const d = mkdtempSync(join(tmpdir(), 'ag-mirror-'));
  const deb822 = join(d, 'debian.sources');
  const list = join(d, 'sources.list');
  writeFileSync(deb822, 'Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n'
    + 'Types: deb\n# a comment\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n');
  assert.equal(debianMirror(deb822, list), 'http://mirror.example/debian');
  writeFileSync(list, '# old style\ndeb [arch=amd64] http://old.example/debian bookworm main\n');
  assert.equal(debianMirror(join(d, 'none'), list), 'http://old.example/debian');
  assert.equal(debianMirror(join(d, 'none'), join(d, 'none')), 'http://deb.debian.org/debian');
});
