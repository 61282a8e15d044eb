import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { parseContainerNames, policyId, selectPolicies } from '../../policy/select.ts';
import type { Policy } from '../../policy/types.ts';
import { namespace, pod, policy } from './profile-fixtures.ts';
import { KUBEARMOR_DATA } from './kubearmor-data.ts';

const names = (sel: { policy: Policy }[]): string[] => sel.map((s) => s.policy.metadata.name);

test('matchLabels: every label must match; no selector matches every pod of the namespace', () => {
  const ps = [
    policy('both', { selector: { matchLabels: { app: 'web', tier: 'front' } } }),
    policy('one-wrong', { selector: { matchLabels: { app: 'web', tier: 'back' } } }),
    policy('empty', { selector: {} }),
    policy('none', {}),
  ];
  assert.deepEqual(names(selectPolicies(pod({ app: 'web', tier: 'front', x: 'y' }), null, ps)), ['both', 'empty', 'none']);
  assert.deepEqual(names(selectPolicies(pod({}), null, ps)), ['empty', 'none']);
});

test('KubeArmorPolicy binds only pods of its own namespace; host policies never bind', () => {
  const ps = [
    policy('here', {}, { namespace: 'a' }),
    policy('there', {}, { namespace: 'b' }),
    policy('host', { nodeSelector: { matchLabels: {} } }, { kind: 'KubeArmorHostPolicy' }),
    policy('cluster', {}, { kind: 'KubeArmorClusterPolicy' }),
  ];
  assert.deepEqual(names(selectPolicies(pod({}, { namespace: 'a' }), null, ps)), ['here', 'cluster']);
});

test('the pod namespace comes from the pod, else the Namespace object, else default', () => {
  const ps = [policy('in-x', {}, { namespace: 'x' }), policy('in-default', {}, { namespace: 'default' })];
  const p = pod({});
  delete p.metadata!.namespace;
  assert.deepEqual(names(selectPolicies(p, namespace('x'), ps)), ['in-x']);
  assert.deepEqual(names(selectPolicies(p, null, ps)), ['in-default']);
});

test('matchExpressions key label: In needs one of the k=v labels, NotIn none of them', () => {
  const ps = [
    policy('in', { selector: { matchExpressions: [{ key: 'label', operator: 'In', values: ['app=web', 'app=api'] }] } }),
    policy('notin', { selector: { matchExpressions: [{ key: 'label', operator: 'NotIn', values: ['app=web'] }] } }),
    policy('in-then-notin', { selector: { matchExpressions: [
      { key: 'label', operator: 'In', values: ['container=ubuntu-1'] },
      { key: 'label', operator: 'NotIn', values: ['container=ubuntu-3'] },
    ] } }),
    policy('bare-key', { selector: { matchExpressions: [{ key: 'label', operator: 'In', values: ['app'] }] } }),
  ];
  assert.deepEqual(names(selectPolicies(pod({ app: 'api' }), null, ps)), ['in', 'notin']);
  assert.deepEqual(names(selectPolicies(pod({ app: 'web' }), null, ps)), ['in']);
  assert.deepEqual(names(selectPolicies(pod({ container: 'ubuntu-1' }), null, ps)), ['notin', 'in-then-notin']);
});

test('NotIn honoured wherever it appears: label value present in NotIn excludes the pod even after In', () => {
  const p = policy('x', { selector: { matchExpressions: [
    { key: 'label', operator: 'In', values: ['app=web'] },
    { key: 'label', operator: 'NotIn', values: ['env=prod'] },
  ] } });
  assert.equal(selectPolicies(pod({ app: 'web', env: 'prod' }), null, [p]).length, 0);
  assert.equal(selectPolicies(pod({ app: 'web', env: 'dev' }), null, [p]).length, 1);
});

test('cluster policies: key namespace In / NotIn on namespace names, combined with labels', () => {
  const ps = [
    policy('ns-in', { selector: { matchExpressions: [{ key: 'namespace', operator: 'In', values: ['prod', 'stage'] }] } }, { kind: 'KubeArmorClusterPolicy' }),
    policy('ns-notin', { selector: { matchExpressions: [{ key: 'namespace', operator: 'NotIn', values: ['kube-system'] }] } }, { kind: 'KubeArmorClusterPolicy' }),
    policy('ns-and-label', { selector: { matchExpressions: [
      { key: 'namespace', operator: 'In', values: ['prod'] },
      { key: 'label', operator: 'In', values: ['app=web'] },
    ] } }, { kind: 'KubeArmorClusterPolicy' }),
  ];
  assert.deepEqual(names(selectPolicies(pod({ app: 'web' }, { namespace: 'prod' }), null, ps)), ['ns-in', 'ns-notin', 'ns-and-label']);
  assert.deepEqual(names(selectPolicies(pod({}, { namespace: 'kube-system' }), null, ps)), []);
  assert.deepEqual(names(selectPolicies(pod({}, { namespace: 'dev' }), null, ps)), ['ns-notin']);
});

test('unknown expression keys or operators match nothing (fail closed)', () => {
  const ps = [
    policy('bad-op', { selector: { matchExpressions: [{ key: 'label', operator: 'Exists', values: ['app=web'] }] } }),
    policy('bad-key', { selector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] } }),
  ];
  assert.deepEqual(selectPolicies(pod({ app: 'web' }), null, ps), []);
});

test('container.name label: a container filter, never compared with pod labels', () => {
  assert.deepEqual(parseContainerNames('[container-1]'), ['container-1']);
  assert.deepEqual(parseContainerNames('[b, a ,b]'), ['a', 'b']);
  assert.deepEqual(parseContainerNames('[container-1,,]'), ['container-1']);
  assert.deepEqual(parseContainerNames('[]'), []);
  assert.deepEqual(parseContainerNames(''), []);
  assert.deepEqual(parseContainerNames('lb'), ['lb']);
  const p = (v: string): Policy => policy('c', { selector: { matchLabels: { app: 'm', 'kubearmor.io/container.name': v } } });
  const thePod = pod({ app: 'm' }, { containers: ['container-1', 'container-2'] });
  assert.deepEqual(selectPolicies(thePod, null, [p('[container-1]')]).map((s) => s.containers), [['container-1']]);
  assert.deepEqual(selectPolicies(thePod, null, [p('[]')]).map((s) => s.containers), [[]]);
  assert.deepEqual(selectPolicies(thePod, null, [p('')]).map((s) => s.containers), [[]]);
  assert.deepEqual(selectPolicies(thePod, null, [p('[container-1,,]')]).map((s) => s.containers), [['container-1']]);
  assert.deepEqual(selectPolicies(thePod, null, [p('[container-2, other]')]).map((s) => s.containers), [['container-2']]);
  // names none of the pod's containers: does not bind
  assert.deepEqual(selectPolicies(thePod, null, [p('[other]')]), []);
  // the label itself on the pod is irrelevant, other labels still must match
  assert.deepEqual(selectPolicies(pod({}, { containers: ['container-1'] }), null, [p('[container-1]')]), []);
});

test('policyId: NAMESPACE/NAME for namespaced policies, NAME for cluster policies', () => {
  assert.equal(policyId(policy('a', {}, { namespace: 'ns' })), 'ns/a');
  assert.equal(policyId(policy('a', {}, { kind: 'KubeArmorClusterPolicy' })), 'a');
});

const CORPUS = join(KUBEARMOR_DATA, 'corpus');
test('corpus multicontainer policies bind with the container filters KubeArmor derives', { skip: existsSync(CORPUS) ? false : `KubeArmor corpus not present at ${CORPUS}` }, () => {
  const load = (f: string): Policy => parseAllDocuments(readFileSync(`${CORPUS}/${f}`, 'utf8'))[0]!.toJS() as Policy;
  const thePod = pod({ container: 'multicontainer' }, { namespace: 'multicontainer', containers: ['container-1', 'container-2'] });
  const cases: [string, string[]][] = [
    ['tests__k8s_env__multicontainer__manifests__container-1-ls-block.yaml', ['container-1']],
    ['tests__k8s_env__multicontainer__manifests__empty-array-ls-block.yaml', []],
    ['tests__k8s_env__multicontainer__manifests__empty-label-ls-block.yaml', []],
    ['tests__k8s_env__multicontainer__manifests__malformated-array-ls-block.yaml', ['container-1']],
  ];
  for (const [file, containers] of cases) {
    const sel = selectPolicies(thePod, null, [load(file)]);
    assert.equal(sel.length, 1, file);
    assert.deepEqual(sel[0]!.containers, containers, file);
  }
});

test('never throws on malformed policies or pods', () => {
  const weird = [
    { kind: 'KubeArmorPolicy', metadata: { name: 'x' }, spec: { selector: { matchLabels: 'nope', matchExpressions: [null, 3] } } },
    { kind: 'KubeArmorClusterPolicy', metadata: { name: 'y' }, spec: null },
    null,
  ] as unknown as Policy[];
  assert.doesNotThrow(() => selectPolicies({} as never, null, weird));
  assert.doesNotThrow(() => selectPolicies({ metadata: { labels: 5 } } as never, null, weird));
});
