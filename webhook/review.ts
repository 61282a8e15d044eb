// AdmissionReview (admission.k8s.io/v1) in and out: parse a request body into a checked
// AdmissionRequest, and build the response review. Pure; no I/O.
import type { KubeObject } from '../policy/types.ts';

export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
export const ADMISSION_KIND = 'AdmissionReview';
/** Largest body accepted: an UPDATE review carries the object and its old copy. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** Kubernetes drops warnings past these limits. */
export const WARNING_MAX_CHARS = 119;
export const WARNINGS_MAX_BYTES = 4096;

export interface GroupVersionKind { group: string; version: string; kind: string }
export interface GroupVersionResource { group: string; version: string; resource: string }

/** The fields of AdmissionRequest the webhook reads (every field is passed through untouched). */
export interface AdmissionRequest {
  uid: string;
  kind: GroupVersionKind;
  resource?: GroupVersionResource;
  subResource?: string;
  requestKind?: GroupVersionKind;
  requestResource?: GroupVersionResource;
  requestSubResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  object?: KubeObject | null;
  oldObject?: KubeObject | null;
  dryRun?: boolean;
  options?: unknown;
}

export interface AdmissionStatus { code?: number; message?: string; reason?: string; status?: 'Failure' | 'Success' }

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: 'JSONPatch';
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewOut {
  apiVersion: string;
  kind: string;
  response: AdmissionResponse;
}

/** A request the endpoint refuses before any decision: answered with an HTTP 4xx. */
export interface BadRequest { httpStatus: number; message: string }

export type ParsedReview =
  | { ok: true; apiVersion: string; kind: string; request: AdmissionRequest }
  | { ok: false; error: BadRequest };

const OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string, httpStatus = 400): ParsedReview {
  return { ok: false, error: { httpStatus, message } };
}

function checkGvk(v: unknown, field: string): string | null {
  if (!isRecord(v)) return `request.${field} must be an object {group, version, kind}`;
  if (typeof v.group !== 'string') return `request.${field}.group must be a string`;
  if (typeof v.version !== 'string') return `request.${field}.version must be a string`;
  if (typeof v.kind !== 'string') return `request.${field}.kind must be a string`;
  return null;
}

/** Parses and shape-checks an AdmissionReview body. Every refusal names the field at fault. */
export function parseReview(body: Uint8Array | string): ParsedReview {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (e) {
    return bad(`body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isRecord(doc)) return bad('body must be a JSON object (an AdmissionReview)');
  if (doc.apiVersion !== ADMISSION_API_VERSION) return bad(`apiVersion must be "${ADMISSION_API_VERSION}"`);
  if (doc.kind !== ADMISSION_KIND) return bad(`kind must be "${ADMISSION_KIND}"`);
  const r = doc.request;
  if (r === undefined || r === null) return bad('request is missing');
  if (!isRecord(r)) return bad('request must be an object');
  if (typeof r.uid !== 'string' || r.uid === '') return bad('request.uid must be a non-empty string');
  if (r.uid.length > 256) return bad('request.uid is longer than 256 characters');
  const gvkProblem = checkGvk(r.kind, 'kind');
  if (gvkProblem) return bad(gvkProblem);
  if (typeof r.operation !== 'string' || !OPERATIONS.has(r.operation)) return bad('request.operation must be one of CREATE, UPDATE, DELETE, CONNECT');
  for (const f of ['name', 'namespace', 'subResource'] as const) {
    if (r[f] !== undefined && typeof r[f] !== 'string') return bad(`request.${f} must be a string`);
  }
  if (r.dryRun !== undefined && typeof r.dryRun !== 'boolean') return bad('request.dryRun must be a boolean');
  if (r.userInfo !== undefined) {
    if (!isRecord(r.userInfo)) return bad('request.userInfo must be an object');
    if (r.userInfo.username !== undefined && typeof r.userInfo.username !== 'string') return bad('request.userInfo.username must be a string');
  }
  for (const f of ['object', 'oldObject'] as const) {
    if (r[f] !== undefined && r[f] !== null && !isRecord(r[f])) return bad(`request.${f} must be an object`);
  }
  return { ok: true, apiVersion: doc.apiVersion, kind: doc.kind, request: r as unknown as AdmissionRequest };
}

/** Cuts one warning to fit the API server's per-warning limit. */
export function clipWarning(w: string): string {
  const flat = w.replace(/[\r\n\t]+/g, ' ');
  return flat.length <= WARNING_MAX_CHARS ? flat : `${flat.slice(0, WARNING_MAX_CHARS - 1)}…`;
}

/** Warnings as the API server keeps them: each under 120 characters, 4 KiB in total;
 *  when some must go, the last one kept says how many were dropped. */
export function fitWarnings(warnings: readonly string[]): string[] {
  const out: string[] = [];
  let total = 0;
  const clipped = warnings.map(clipWarning);
  for (let i = 0; i < clipped.length; i++) {
    const w = clipped[i]!;
    const size = Buffer.byteLength(w);
    const room = WARNINGS_MAX_BYTES - 64; // keep room for the "dropped" note
    if (total + size > room) {
      out.push(`${clipped.length - i} more warning(s) not shown`);
      break;
    }
    out.push(w);
    total += size;
  }
  return out;
}

export function allow(uid: string, extra: Partial<AdmissionResponse> = {}): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: true, ...extra };
  if (res.warnings !== undefined) {
    if (res.warnings.length === 0) delete res.warnings;
    else res.warnings = fitWarnings(res.warnings);
  }
  return res;
}

export function deny(uid: string, message: string, code = 403, reason = 'Forbidden', warnings: readonly string[] = []): AdmissionResponse {
  const res: AdmissionResponse = { uid, allowed: false, status: { status: 'Failure', code, reason, message } };
  if (warnings.length > 0) res.warnings = fitWarnings(warnings);
  return res;
}

export function reviewOut(apiVersion: string, kind: string, response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion, kind, response };
}
