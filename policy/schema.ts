// JSON Schema validation of the policy kinds and of the compiled profile: ajv in strict
// mode, each schema compiled once (on first use), errors turned into Problems with
// dotted paths and plain messages.
import Ajv2020Module from 'ajv/dist/2020.js';
import type { ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import defsSchema from '../schemas/kubearmor-defs.schema.json' with { type: 'json' };
import policySchema from '../schemas/kubearmor-policy.schema.json' with { type: 'json' };
import clusterPolicySchema from '../schemas/kubearmor-cluster-policy.schema.json' with { type: 'json' };
import hostPolicySchema from '../schemas/kubearmor-host-policy.schema.json' with { type: 'json' };
import profileSchema from '../schemas/profile.schema.json' with { type: 'json' };
import type { PolicyKind, Problem } from './types.ts';
import { childPath, pointerToPath } from './paths.ts';

const Ajv2020 = Ajv2020Module.default;
const addFormats = addFormatsModule.default;

/** The JSON Schemas, as loaded (read-only: scripts/gen-crds.ts derives the CRDs from them). */
export const SCHEMAS = {
  defs: defsSchema,
  KubeArmorPolicy: policySchema,
  KubeArmorClusterPolicy: clusterPolicySchema,
  KubeArmorHostPolicy: hostPolicySchema,
  profile: profileSchema,
} as const;

/** At most this many schema problems are reported for one document; the rest are counted. */
export const MAX_SCHEMA_PROBLEMS = 100;

type Validators = Record<PolicyKind | 'profile', ValidateFunction>;
let validators: Validators | null = null;

function compileAll(): Validators {
  const ajv = new Ajv2020({ strict: true, allErrors: true, verbose: true, discriminator: true, allowUnionTypes: false });
  addFormats(ajv, ['int32']);
  ajv.addSchema(defsSchema);
  return {
    KubeArmorPolicy: ajv.compile(policySchema),
    KubeArmorClusterPolicy: ajv.compile(clusterPolicySchema),
    KubeArmorHostPolicy: ajv.compile(hostPolicySchema),
    profile: ajv.compile(profileSchema),
  };
}

function getValidators(): Validators {
  validators ??= compileAll();
  return validators;
}

/** Schema problems of a policy document of the given kind (empty when it conforms). */
export function validatePolicySchema(kind: PolicyKind, value: unknown): Problem[] {
  const validate = getValidators()[kind];
  return validate(value) ? [] : toProblems(validate.errors ?? []);
}

/** Schema problems of a compiled profile (empty when it is a well-formed `Profile`). */
export function validateProfileSchema(value: unknown): Problem[] {
  const validate = getValidators().profile;
  return validate(value) ? [] : toProblems(validate.errors ?? []);
}

// Plain words for the patterns of the schemas, keyed by the pattern itself.
const PATTERN_MESSAGES: Record<string, string> = {
  '^\\/+.*[^\\/]$': "must be an absolute path that does not end in '/'",
  '^\\/$|^\\/.*\\/$': "must be an absolute directory path ending in '/'",
  '^[^\\/]+$': "must be an executable name, without '/'",
  '(^\\/+.*[^\\/]$)|(^\\/$|^\\/.*\\/$)': "must be an absolute file path, or a directory path ending in '/'",
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$': 'must be a lower-case DNS subdomain name (a-z, 0-9, - and .)',
  '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$': 'must be a lower-case DNS label (a-z, 0-9 and -)',
  '^[a-z_]+$': 'must be a lower-case capability name without CAP_',
};

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return v.length > 40 ? `"${v.slice(0, 37)}..."` : JSON.stringify(v);
  return String(v);
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false',
};

function message(e: ErrorObject): { path: string; message: string } {
  const at = pointerToPath(e.instancePath);
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return { path: childPath(at, String(p.missingProperty)), message: 'is required' };
    case 'additionalProperties':
      return { path: childPath(at, String(p.additionalProperty)), message: 'unknown field' };
    case 'type':
      return { path: at, message: `must be ${TYPE_WORDS[String(p.type)] ?? String(p.type)}, not ${describeValue(e.data)}` };
    case 'const':
      return { path: at, message: `must be ${JSON.stringify(p.allowedValue)}, not ${describeValue(e.data)}` };
    case 'enum': {
      const allowed = p.allowedValues as unknown[];
      if (allowed.length > 12) return { path: at, message: `${describeValue(e.data)} is not one of the ${allowed.length} names allowed here` };
      return { path: at, message: `must be one of ${allowed.map(String).join(', ')}, not ${describeValue(e.data)}` };
    }
    case 'pattern': {
      const known = PATTERN_MESSAGES[String(p.pattern)];
      const lead = known ?? `must match the pattern ${String(p.pattern)}`;
      return { path: at, message: `${lead}: ${describeValue(e.data)}` };
    }
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return { path: at, message: `must be ${String(p.comparison)} ${String(p.limit)}, not ${describeValue(e.data)}` };
    case 'maxLength':
      return { path: at, message: `must be at most ${String(p.limit)} characters long` };
    case 'minLength':
      return { path: at, message: Number(p.limit) === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters long` };
    case 'maxItems':
      return { path: at, message: `must have at most ${String(p.limit)} entries` };
    case 'format':
      return { path: at, message: `must be a ${String(p.format)} number` };
    case 'discriminator':
      return { path: childPath(at, String(p.tag)), message: p.error === 'mapping' ? 'is not a known type' : 'must be a string' };
    default:
      return { path: at, message: e.message ?? `fails the schema keyword ${e.keyword}` };
  }
}

function toProblems(errors: readonly ErrorObject[]): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // A discriminator already names the real fault; the oneOf/if summaries only repeat it.
    if (e.keyword === 'oneOf' || e.keyword === 'if') continue;
    const m = message(e);
    const key = `${m.path}\n${m.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (out.length === MAX_SCHEMA_PROBLEMS) {
      out.push({ level: 'error', path: '', message: `and more schema problems (only the first ${MAX_SCHEMA_PROBLEMS} are listed)` });
      break;
    }
    out.push({ level: 'error', path: m.path, message: m.message });
  }
  return out;
}
