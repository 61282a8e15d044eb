// What alerts say about a pod from the pod object alone: its owner (KubeArmor's Podowner), each
// container's image, and the one container an unnamed container cgroup must be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerImages, podOwner, soleContainer } from '../../enforcer/pod-facts.ts';
import type { Pod } from '../../policy/types.ts';

const owned = (refs: unknown, labels: Record<string, string> = {}): Pod => ({ metadata: { name: 'web-7d4b9c6f5-x2x4q', namespace: 'shop', labels, ownerReferences: refs } as never });
const ref = (kind: string, name: string, controller = true): object => ({ apiVersion: 'apps/v1', kind, name, uid: 'u', controller });

test('owner: a Deployment\'s pod names the Deployment; other controllers by kind; no controller: the pod itself', () => {
  assert.deepEqual(podOwner(owned([ref('ReplicaSet', 'web-7d4b9c6f5')], { 'pod-template-hash': '7d4b9c6f5' })), { Ref: 'Deployment', Name: 'web', Namespace: 'shop' });
  assert.deepEqual(podOwner(owned([ref('ReplicaSet', 'web-7d4b9c6f5')])), { Ref: 'ReplicaSet', Name: 'web-7d4b9c6f5', Namespace: 'shop' }, 'no pod-template-hash: a ReplicaSet of its own');
  assert.deepEqual(podOwner(owned([ref('ReplicaSet', 'web')], { 'pod-template-hash': '7d4b9c6f5' })), { Ref: 'ReplicaSet', Name: 'web', Namespace: 'shop' }, 'the hash is not the name\'s suffix');
  assert.deepEqual(podOwner(owned([ref('StatefulSet', 'db')])), { Ref: 'StatefulSet', Name: 'db', Namespace: 'shop' });
  assert.deepEqual(podOwner(owned([ref('DaemonSet', 'agent')])), { Ref: 'DaemonSet', Name: 'agent', Namespace: 'shop' });
  assert.deepEqual(podOwner(owned([ref('Job', 'nightly-28371540')])), { Ref: 'Job', Name: 'nightly-28371540', Namespace: 'shop' }, 'a CronJob\'s Job is not looked up');
  assert.deepEqual(podOwner(owned([ref('StatefulSet', 'db', false), ref('DaemonSet', 'agent')])), { Ref: 'DaemonSet', Name: 'agent', Namespace: 'shop' }, 'the controlling reference');
  assert.deepEqual(podOwner(owned([ref('StatefulSet', 'db', false)])), { Ref: 'Pod', Name: 'web-7d4b9c6f5-x2x4q', Namespace: 'shop' }, 'no controller: the pod');
  assert.deepEqual(podOwner(owned(undefined)), { Ref: 'Pod', Name: 'web-7d4b9c6f5-x2x4q', Namespace: 'shop' });
  for (const bad of ['x', 7, [null, 'x', { kind: 5 }], { kind: 'ReplicaSet' }]) assert.equal(podOwner(owned(bad)).Ref, 'Pod', JSON.stringify(bad));
  assert.deepEqual(podOwner({} as Pod), { Ref: 'Pod', Name: '', Namespace: 'default' });
});

test('images: the status\'s image with the digest of its imageID; the spec\'s while the status does not list it', () => {
  const d = `sha256:${'b'.repeat(64)}`;
  const images = containerImages({
    spec: {
      containers: [{ name: 'app', image: 'app:2' }, { name: 'side', image: 'envoy:v1' }, { name: 'pinned', image: 'redis@' + d }],
      initContainers: [{ name: 'init', image: 'busybox' }],
    },
    status: {
      containerStatuses: [
        { name: 'app', image: 'registry.example/app:2', imageID: `registry.example/app@${d}` },
        { name: 'pinned', image: `docker.io/library/redis@${d}`, imageID: `docker.io/library/redis@${d}` },
      ],
      initContainerStatuses: [{ name: 'init', image: 'docker.io/library/busybox:latest', imageID: 'sha256:cafe' }],
    },
  } as unknown as Pod);
  assert.equal(images.get('app'), `registry.example/app:2@${d}`);
  assert.equal(images.get('side'), 'envoy:v1', 'not in the status yet: the spec');
  assert.equal(images.get('pinned'), `docker.io/library/redis@${d}`, 'a digest once');
  assert.equal(images.get('init'), 'docker.io/library/busybox:latest', 'an imageID without a repository digest adds nothing');
  assert.equal(containerImages({ spec: { containers: 'x' }, status: null } as unknown as Pod).size, 0, 'garbage: nothing, no throw');
});

test('sole container: one container, no ephemeral one, every init container finished; else none', () => {
  const pod = (spec: object, status: object = {}): Pod => ({ spec, status } as unknown as Pod);
  assert.equal(soleContainer(pod({ containers: [{ name: 'app' }] })), 'app');
  assert.equal(soleContainer(pod({ containers: [{ name: 'app' }, { name: 'side' }] })), null);
  assert.equal(soleContainer(pod({ containers: [{ name: 'app' }], ephemeralContainers: [{ name: 'debugger' }] })), null);
  const init = { containers: [{ name: 'app' }], initContainers: [{ name: 'migrate' }] };
  assert.equal(soleContainer(pod(init)), null, 'no status of the init container');
  assert.equal(soleContainer(pod(init, { initContainerStatuses: [{ name: 'migrate', state: { running: {} } }] })), null);
  assert.equal(soleContainer(pod(init, { initContainerStatuses: [{ name: 'migrate', state: { terminated: { exitCode: 0 } } }] })), 'app');
  const sidecar = { containers: [{ name: 'app' }], initContainers: [{ name: 'proxy', restartPolicy: 'Always' }] };
  assert.equal(soleContainer(pod(sidecar, { initContainerStatuses: [{ name: 'proxy', state: { terminated: {} } }] })), null, 'a sidecar runs beside it');
  assert.equal(soleContainer(pod({ containers: null })), null);
  assert.equal(soleContainer({} as Pod), null);
});
