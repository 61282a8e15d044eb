// Validation of rendered objects against the vendored schemas (schemas/README.md names their
// source). Stricter than the schemas alone: an object schema that lists its properties and
// says nothing of others refuses unknown fields, as the API server's strict field validation
// (kubectl apply --validate=strict) does; a typo such as `readinesProbe` is an error here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ALL_KINDS, CERT_MANAGER_KINDS } from './schemas/kinds.ts';
import { ROOT } from './kubectl.ts';

type Node = { [k: string]: unknown };
const SCHEMAS = join(ROOT, 'test', 'manifests', 'schemas');
export const SCHEMA_FILES = { kubernetes: 'kubernetes-1.27.1.json', 'cert-manager': 'cert-manager.json' } as const;

// Kubernetes resource.Quantity: a signed decimal number with an optional suffix
// (binary Ki..Ei, decimal n u m k M G T P E, or an exponent e/E).
const QUANTITY = /^[+-]?(\d+(\.\d*)?|\.\d+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?\d+))?$/;

/** Adds additionalProperties: false wherever a schema lists properties and allows no others explicitly. */
export function strictify(node: unknown): void {
  if (Array.isArray(node)) { node.forEach(strictify); return; }
  if (!node || typeof node !== 'object') return;
  const s = node as Node;
  if (s['x-kubernetes-preserve-unknown-fields'] === true) return;
  if (s.properties && typeof s.properties === 'object') {
    if (!('additionalProperties' in s)) s.additionalProperties = false;
    for (const p of Object.values(s.properties as Node)) strictify(p);
  }
  for (const k of ['items', 'additionalProperties', 'oneOf', 'anyOf', 'allOf', 'not']) strictify(s[k]);
}

export function loadSchemaFile(name: string): { definitions: Record<string, unknown> } {
  return JSON.parse(readFileSync(join(SCHEMAS, name), 'utf8')) as { definitions: Record<string, unknown> };
}

/** Every `format` named in a schema document. */
export function formatsUsed(node: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => formatsUsed(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'properties' && v && typeof v === 'object') Object.values(v).forEach((p) => formatsUsed(p, out));
      else if (k === 'format' && typeof v === 'string') out.add(v);
      else formatsUsed(v, out);
    }
  }
  return out;
}

export class ManifestValidator {
  readonly ajv: Ajv;
  readonly #byKind = new Map<string, ValidateFunction>();

  constructor() {
    this.ajv = new Ajv({ allErrors: true, strict: false });
    const addFormats = addFormatsModule as unknown as (a: Ajv) => Ajv;
    addFormats(this.ajv);
    this.ajv.addFormat('quantity', QUANTITY);
    for (const [id, file] of Object.entries(SCHEMA_FILES)) {
      const doc = loadSchemaFile(file);
      strictify(Object.values(doc.definitions));
      this.ajv.addSchema({ $id: id, definitions: doc.definitions });
    }
    const certManager = new Set(CERT_MANAGER_KINDS);
    for (const k of ALL_KINDS) {
      const file = certManager.has(k) ? 'cert-manager' : 'kubernetes';
      this.#byKind.set(`${k.apiVersion} ${k.kind}`, this.ajv.compile({ $ref: `${file}#/definitions/${k.id}` }));
    }
  }

  /** Problems of one object ("" path = the object itself); an unknown kind is a problem too. */
  validate(o: { apiVersion?: unknown; kind?: unknown }): string[] {
    const v = this.#byKind.get(`${String(o.apiVersion)} ${String(o.kind)}`);
    if (!v) return [`no vendored schema for ${String(o.apiVersion)} ${String(o.kind)} (add it to schemas/kinds.ts and re-vendor)`];
    if (v(o)) return [];
    return (v.errors ?? []).map(describe);
  }
}

function describe(e: ErrorObject): string {
  const where = e.instancePath || '(object)';
  if (e.keyword === 'additionalProperties') return `${where}: unknown field ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`;
  return `${where}: ${e.message ?? e.keyword}`;
}
