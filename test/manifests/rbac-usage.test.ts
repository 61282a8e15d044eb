// The RBAC usage finder itself: it must find real calls and must not invent them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coreCalls, coreResourceOfKind, evidence, kindOfCoreResource, ungrantedCalls, unusedGrants } from './rbac-usage.ts';

describe('rbac-usage', () => {
  it('names client-node kinds of core resources', () => {
    assert.equal(kindOfCoreResource('pods'), 'Pod');
    assert.equal(kindOfCoreResource('namespaces'), 'Namespace');
    assert.equal(kindOfCoreResource('nodes'), 'Node');
  });

  it('finds list, watch, get and patch calls of core resources', () => {
    const src = `const w = new Watch(kc); await api.listPodForAllNamespaces({ fieldSelector }); w.watch('/api/v1/pods', {}, cb, done);
      await core.patchNode({ name, body }); await core.readNamespace({ name: 'x' });`;
    assert.equal(evidence(src, '', 'pods', 'list'), 'listPodForAllNamespaces(');
    assert.equal(evidence(src, '', 'pods', 'watch'), "'/api/v1/pods'");
    assert.equal(evidence(src, '', 'nodes', 'patch'), 'patchNode(');
    assert.equal(evidence(src, '', 'namespaces', 'get'), 'readNamespace(');
  });

  it('finds custom resources listed and watched by plural', () => {
    const src = `const GROUP = 'security.kubearmor.com'; const PLURALS = ['kubearmorpolicies'];
      new ListWatch(\`/apis/\${GROUP}/\${VERSION}/\${plural}\`, new Watch(kc), () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural }));`;
    assert.ok(evidence(src, 'security.kubearmor.com', 'kubearmorpolicies', 'list'));
    assert.ok(evidence(src, 'security.kubearmor.com', 'kubearmorpolicies', 'watch'));
    assert.equal(evidence(src, 'security.kubearmor.com', 'kubearmorhostpolicies', 'list'), null);
  });

  it('reports every grant the code does not call, and wildcards', () => {
    const src = `await api.listNamespacedPod({ namespace }); new Watch(kc).watch('/api/v1/namespaces/x/pods', {}, f, g);`;
    assert.deepEqual(unusedGrants([{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch', 'get'] }], src), ['watch core/pods', 'get core/pods']);
    assert.deepEqual(unusedGrants([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }], src), ['get core/secrets']);
    assert.equal(unusedGrants([{ apiGroups: ['*'], resources: ['pods'], verbs: ['list'] }], src).length, 1);
    assert.deepEqual(unusedGrants([{ apiGroups: [''], resources: ['pods'], verbs: ['list'] }], src), []);
  });

  it('lists the core API calls the code makes, and those no rule grants', () => {
    assert.equal(coreResourceOfKind('Pod'), 'pods');
    assert.equal(coreResourceOfKind('Namespace'), 'namespaces');
    const src = `const core = kc.makeApiClient(CoreV1Api); this.#api = o.kc.makeApiClient(CoreV1Api);
      await core.readNamespacedPod({ name, namespace }); await this.#api.listPodForAllNamespaces({}); await api.patchNode({});
      store.listPolicies(); new Watch(kc).watch('/api/v1/pods', {}, f, g);`;
    assert.deepEqual([...coreCalls(src)].sort(), ['get core/pods', 'list core/pods', 'watch core/pods']);
    assert.deepEqual(ungrantedCalls([{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }], src), ['get core/pods']);
  });
});
