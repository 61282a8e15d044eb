// The names KubeArmor writes for socket arguments: domains, types with their flags, and the
// protocol by IANA's keyword (every assigned number with a keyword; the number otherwise).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IANA_PROTOCOLS } from '../../enforcer/iana-protocols.ts';
import { networkResource } from '../../enforcer/kubearmor-names.ts';

const proto = (protocol: number): string => networkResource({ family: 2, type: 3, protocol }).replace(/^.* protocol=/, '');

test('protocols by IANA keyword, beyond the common ones', () => {
  assert.equal(proto(6), 'TCP');
  assert.equal(proto(17), 'UDP');
  assert.equal(proto(58), 'IPv6-ICMP');
  assert.equal(proto(3), 'GGP');
  assert.equal(proto(39), 'TP++');
  assert.equal(proto(89), 'OSPFIGP');
  assert.equal(proto(93), 'AX.25');
  assert.equal(proto(107), 'A/N');
  assert.equal(proto(115), 'L2TP');
  assert.equal(proto(137), 'MPLS-in-IP');
  assert.equal(proto(138), 'manet');
  assert.equal(proto(143), 'Ethernet');
  assert.equal(proto(255), 'Reserved');
});

test('numbers without a keyword (or one with spaces, unassigned, past the table) are written as numbers', () => {
  for (const n of [61, 63, 68, 99, 114, 124, 135, 146, 252, 253, 254, 256, 768]) assert.equal(proto(n), String(n), String(n));
});

test('the table: every number 0-145 but the keyword-less ones, and 255; keywords are single words', () => {
  const without = new Set([61, 63, 68, 99, 114, 124, 135]);
  for (let n = 0; n <= 145; n++) assert.equal(IANA_PROTOCOLS[n] !== undefined, !without.has(n), String(n));
  assert.deepEqual(Object.keys(IANA_PROTOCOLS).map(Number).filter((n) => n > 145), [255]);
  for (const [n, k] of Object.entries(IANA_PROTOCOLS)) assert.match(k, /^\S+$/, `${n}: ${k} splits no key=value word`);
  assert.equal(new Set(Object.values(IANA_PROTOCOLS)).size, Object.keys(IANA_PROTOCOLS).length, 'no keyword twice');
});
