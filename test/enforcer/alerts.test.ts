// The KubeArmor alert shape, field by field, from pure inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alertLine, decisionAlert, formatLabels, notEnforcedAlert, policyName, resultText, thresholdAlert, type AlertContext } from '../../enforcer/alerts.ts';
import type { ProfileRule } from '../../policy/types.ts';

const ctx: AlertContext = {
  clusterName: 'oke', hostName: 'node-1', namespace: 'shop', podName: 'web', labels: { tier: 'front', app: 'web' },
  containerId: 'abc', containerName: 'web', parentProcessName: '/bin/bash',
};
const now = new Date('2026-03-04T05:06:07.089Z');
const rule: ProfileRule = {
  action: 'Block', target: { type: 'protocol', protocol: 'raw' }, readOnly: false, ownerOnly: false, fromSource: '', containers: [],
  policies: ['no-raw-sockets', 'shop/no-raw-sockets', 'shop/net-hardening'], severity: 6, tags: ['MITRE', 'network'], message: 'raw socket refused',
};

test('a network decision', () => {
  const a = decisionAlert({
    pid: 10, ppid: 9, uid: 1000, exe: '/usr/bin/python3.11', source: '/usr/bin/python3.11', target: 'raw', hook: 'socket_create',
    kind: 'network', action: 'Block', denied: true, errno: -1, rule,
  }, ctx, now);
  assert.equal(a.Timestamp, 1772600767);
  assert.equal(a.UpdatedTime, '2026-03-04T05:06:07.089Z');
  assert.equal(a.Labels, 'app=web,tier=front');
  assert.equal(a.PolicyName, 'no-raw-sockets,net-hardening', 'names without namespaces, deduplicated');
  assert.equal(a.Operation, 'Network');
  assert.equal(a.Data, 'lsm=SOCKET_CREATE raw', 'KubeArmor\'s LSM event name, then the resource');
  assert.equal(a.Result, 'Permission denied');
  assert.equal(a.Severity, '6');
  assert.equal(a.Tags, 'MITRE,network');
  assert.deepEqual(a.ATags, ['MITRE', 'network']);
  assert.equal(a.UID, 1000);
  const line = alertLine(a);
  assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one JSON object per line');
  assert.deepEqual(JSON.parse(line), a);
});

test('results, labels, policy names', () => {
  assert.equal(resultText(false, 0), 'Passed');
  assert.equal(resultText(true, 1), 'Permission denied', 'as KubeArmor\'s BPF-LSM enforcer writes any refusal');
  assert.equal(resultText(true, -13), 'Permission denied');
  assert.equal(formatLabels(undefined), '');
  assert.equal(formatLabels({ b: '2', a: '1' }), 'a=1,b=2');
  assert.equal(policyName(null), 'DefaultPosture');
});

test('system events: threshold and not enforced', () => {
  const t = thresholdAlert(1, ctx, now);
  assert.equal(t.Type, 'SystemEvent');
  assert.equal(t.Operation, 'AlertThreshold');
  assert.equal(t.Message, '1 alert dropped: rate limit exceeded');
  assert.equal(t.Enforcer, 'BPFLSM');
  const n = notEnforcedAlert('no signature', 'E_NO_SIGNATURE', ctx, now);
  assert.equal(n.Operation, 'Profile');
  assert.equal(n.Data, 'code=E_NO_SIGNATURE');
  assert.equal(n.PodName, 'web');
  assert.deepEqual(Object.keys(n).sort(), Object.keys(t).sort());
});
