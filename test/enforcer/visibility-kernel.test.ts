// The userspace half of bpf/visibility.h, pure parts: kind bits, the config record, socket arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSockArgs, encodeVisConfig, visibilityMask } from '../../enforcer/kernel/visibility.ts';
import { networkResource } from '../../enforcer/kubearmor-names.ts';

test('kind bits follow AG_KIND_* (process 0, file 1, network 2, capabilities 3)', () => {
  assert.equal(visibilityMask(undefined), 0);
  assert.equal(visibilityMask(['file', 'process']), 0b11);
  assert.equal(visibilityMask(['capabilities', 'file', 'network', 'process']), 0b1111);
});

test('struct ag_visconfig: rate, then kinds, little-endian u32s', () => {
  assert.deepEqual([...encodeVisConfig(1000, 5)], [0xe8, 0x03, 0, 0, 5, 0, 0, 0]);
});

test('socket arguments as ag_sock_set packs them, and KubeArmor\'s Resource of them', () => {
  assert.equal(decodeSockArgs(0), null);
  const raw = decodeSockArgs(2 | (3 << 8) | (1 << 16));
  assert.deepEqual(raw, { family: 2, type: 3, protocol: 1 });
  assert.equal(networkResource(raw!), 'domain=AF_INET type=SOCK_RAW protocol=ICMP');
  assert.deepEqual(decodeSockArgs(17 | (3 << 8) | (0x0300 << 16)), { family: 17, type: 3, protocol: 0x0300 });
  assert.equal(networkResource({ family: 17, type: 3, protocol: 768 }), 'domain=AF_PACKET type=SOCK_RAW protocol=768');
  assert.equal(networkResource({ family: 2, type: 2, protocol: 0 }), 'domain=AF_INET type=SOCK_DGRAM protocol=HOPOPT', 'KubeArmor names protocol 0 by its IANA name too');
});
