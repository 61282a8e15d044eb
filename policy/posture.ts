// Postures: what happens to an access no rule matches when a kind is in allow-list mode.
// Sources, in order: the namespace's KubeArmor annotations, then the gateway's configured
// defaults. The process posture follows the file posture, as in KubeArmor.
import { KUBEARMOR_POSTURE } from './annotations.ts';
import { err, ok } from './types.ts';
import type { Namespace, Posture, PostureSet, Result } from './types.ts';

/** Built-in defaults: audit everywhere. */
export const DEFAULT_POSTURE: Readonly<PostureSet> = Object.freeze({
  file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit',
});

/** The order of the `armorgate.io/posture` annotation. */
export const POSTURE_ORDER = ['file', 'network', 'capabilities', 'process'] as const;

function asPosture(value: string): Posture | null {
  const v = value.trim().toLowerCase();
  return v === 'audit' || v === 'block' ? v : null;
}

/** Parses 'file=audit,network=block,capabilities=audit,process=audit' (any subset, any
 *  order, case-insensitive). Kinds left out come from DEFAULT_POSTURE, except process,
 *  which follows the given file posture when process itself is not given. The empty
 *  string gives the defaults. */
export function parsePostureSpec(s: string): Result<PostureSet> {
  if (typeof s !== 'string') return err('E_POSTURE', 'posture must be a string like file=audit,network=block');
  const out: PostureSet = { ...DEFAULT_POSTURE };
  const seen = new Set<string>();
  const text = s.trim();
  if (text === '') return ok(out);
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return err('E_POSTURE', `posture entry '${part.trim()}' is not KIND=audit|block`);
    const kind = part.slice(0, eq).trim().toLowerCase();
    const value = asPosture(part.slice(eq + 1));
    if (!(POSTURE_ORDER as readonly string[]).includes(kind)) {
      return err('E_POSTURE', `unknown posture kind '${kind}' (expected one of ${POSTURE_ORDER.join(', ')})`);
    }
    if (value === null) return err('E_POSTURE', `posture of ${kind} must be audit or block, not '${part.slice(eq + 1).trim()}'`);
    if (seen.has(kind)) return err('E_POSTURE', `posture of ${kind} given twice`);
    seen.add(kind);
    out[kind as keyof PostureSet] = value;
  }
  if (!seen.has('process') && seen.has('file')) out.process = out.file;
  return ok(out);
}

/** 'file=…,network=…,capabilities=…,process=…': always all four, in that order. */
export function formatPosture(p: PostureSet): string {
  return POSTURE_ORDER.map((k) => `${k}=${p[k]}`).join(',');
}

/** The posture of a pod in namespace `ns`: each of file, network, capabilities from the
 *  namespace's `kubearmor-*-posture` annotation when it is audit or block (case-insensitive),
 *  else from `defaults`. Process follows the namespace's file posture when the namespace
 *  sets one, else the default process posture. Invalid annotation values are ignored
 *  (see `namespacePostureWarnings`). */
export function namespacePosture(ns: Namespace | null, defaults: PostureSet): PostureSet {
  const ann = annotationsOf(ns);
  const pick = (key: string, fallback: Posture): Posture => {
    const v = ann[key];
    return typeof v === 'string' ? (asPosture(v) ?? fallback) : fallback;
  };
  const file = pick(KUBEARMOR_POSTURE.file, defaults.file);
  const nsFile = typeof ann[KUBEARMOR_POSTURE.file] === 'string' ? asPosture(ann[KUBEARMOR_POSTURE.file] as string) : null;
  return {
    file,
    network: pick(KUBEARMOR_POSTURE.network, defaults.network),
    capabilities: pick(KUBEARMOR_POSTURE.capabilities, defaults.capabilities),
    process: nsFile ?? defaults.process,
  };
}

/** One warning per namespace posture annotation whose value is neither audit nor block. */
export function namespacePostureWarnings(ns: Namespace | null): string[] {
  const ann = annotationsOf(ns);
  const out: string[] = [];
  for (const key of Object.values(KUBEARMOR_POSTURE)) {
    const v = ann[key];
    if (v !== undefined && (typeof v !== 'string' || asPosture(v) === null)) {
      out.push(`namespace ${ns?.metadata?.name ?? '?'}: annotation ${key}: '${String(v)}' is not audit or block; using the default posture`);
    }
  }
  return out;
}

function annotationsOf(ns: Namespace | null): Record<string, unknown> {
  const a = ns?.metadata?.annotations;
  return a !== null && typeof a === 'object' ? (a as Record<string, unknown>) : {};
}
