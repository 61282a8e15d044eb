// The CRDs in manifests/crds/ are generated from schemas/: they must not drift, must be
// structural, and must accept exactly the fields KubeArmor's own CRDs accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CRD_DIR, crd, renderCrds } from '../../scripts/gen-crds.ts';
import type { PolicyKind } from '../../policy/types.ts';
import { KUBEARMOR_DATA, missingData } from './kubearmor-data.ts';

type Obj = Record<string, unknown>;
const KINDS: PolicyKind[] = ['KubeArmorPolicy', 'KubeArmorClusterPolicy', 'KubeArmorHostPolicy'];

test('committed CRDs are exactly what the generator makes from schemas/', () => {
  const expected = renderCrds();
  const committed = readdirSync(CRD_DIR).sort();
  assert.deepEqual(committed, [...expected.keys()].sort(), 'manifests/crds/ holds exactly the generated files');
  for (const [name, text] of expected) {
    assert.equal(readFileSync(join(CRD_DIR, name), 'utf8'), text, `manifests/crds/${name} drifted: run npm run gen:crds`);
  }
});

/** Every schema node of an openAPIV3Schema, with its JSON path. */
function* nodes(schema: Obj, path = ''): Generator<[string, Obj]> {
  yield [path, schema];
  for (const [k, v] of Object.entries((schema.properties as Obj | undefined) ?? {})) yield* nodes(v as Obj, `${path}.${k}`);
  if (schema.items) yield* nodes(schema.items as Obj, `${path}[]`);
  if (typeof schema.additionalProperties === 'object') yield* nodes(schema.additionalProperties as Obj, `${path}{}`);
}

test('CRDs are structural, have the status subresource and no defaults', () => {
  for (const kind of KINDS) {
    const c = crd(kind) as { spec: { versions: { subresources: Obj; schema: { openAPIV3Schema: Obj } }[] } };
    const v = c.spec.versions[0];
    assert.ok(v);
    assert.deepEqual(v.subresources, { status: {} });
    for (const [path, node] of nodes(v.schema.openAPIV3Schema)) {
      assert.equal(typeof node.type, 'string', `${kind}${path}: every node states its type`);
      for (const banned of ['default', '$ref', '$defs', 'const', 'oneOf', 'anyOf', 'allOf', 'not', 'nullable']) {
        assert.ok(!(banned in node), `${kind}${path}: no ${banned}`);
      }
      assert.ok(!(node.properties && 'additionalProperties' in node), `${kind}${path}: properties and additionalProperties exclusive`);
      if (node.properties) assert.equal(node.type, 'object');
      if (node.items) assert.equal(node.type, 'array');
    }
    const root = v.schema.openAPIV3Schema.properties as Obj;
    assert.deepEqual(root.metadata, { type: 'object' });
    assert.deepEqual(root.apiVersion, { type: 'string' });
    assert.deepEqual(root.kind, { type: 'string' });
  }
});

/** path -> the node's constraints without description and children, for comparison. */
function flatten(schema: Obj): Map<string, string> {
  const out = new Map<string, string>();
  for (const [path, node] of nodes(schema)) {
    const { description: _d, properties: _p, items: _i, additionalProperties: ap, ...rest } = node;
    if (ap !== undefined && typeof ap !== 'object') (rest as Obj).additionalProperties = ap;
    out.set(path || '(root)', JSON.stringify(Object.fromEntries(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)))));
  }
  return out;
}

for (const kind of KINDS) {
  test(`${kind}: the CRD accepts exactly KubeArmor's fields and constraints`, { skip: missingData('crds', `${kind}.yaml`) }, () => {
    const theirs = parse(readFileSync(join(KUBEARMOR_DATA, 'crds', `${kind}.yaml`), 'utf8')) as { spec: Obj & { versions: { schema: { openAPIV3Schema: Obj } }[] } };
    const ours = crd(kind) as { spec: Obj & { versions: { schema: { openAPIV3Schema: Obj } }[] } };
    const a = flatten((ours.spec.versions[0] as { schema: { openAPIV3Schema: Obj } }).schema.openAPIV3Schema);
    const b = flatten((theirs.spec.versions[0] as { schema: { openAPIV3Schema: Obj } }).schema.openAPIV3Schema);
    const diffs: string[] = [];
    for (const [p, v] of b) if (a.get(p) !== v) diffs.push(`${p}: KubeArmor ${v}, ours ${a.get(p) ?? 'missing'}`);
    // the status the gateway's reconciler writes (webhook/reconciler.ts) is ours: KubeArmor's
    // status has PolicyStatus only; every spec field is exactly KubeArmor's
    const STATUS_OURS = ['.status.boundPods', '.status.failedPods', '.status.message', '.status.warnings', '.status.warnings[]', '.status.observedGeneration'];
    for (const [p, v] of a) if (!b.has(p) && !STATUS_OURS.includes(p)) diffs.push(`${p}: only ours ${v}`);
    assert.deepEqual(diffs, []);
    for (const p of STATUS_OURS) assert.ok(a.has(p), `${p}: the reconciler's status field is in the CRD`);
    for (const key of ['group', 'names', 'scope'] as const) assert.deepEqual(ours.spec[key], theirs.spec[key], `spec.${key}`);
  });
}
