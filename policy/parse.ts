// YAML/JSON text to documents. Never throws: bad bytes, an oversized input and YAML
// syntax errors come back as errors naming the problem (and the YAML line).
import { Composer, LineCounter, Parser } from 'yaml';
import type { YAMLError } from 'yaml';
import type { AgError } from './types.ts';
import { childPath } from './paths.ts';

export interface ParsedDocument {
  /** 1-based position of the document in the stream. */
  index: number;
  /** The document as plain data (null for an empty document or one that failed to parse). */
  value: unknown;
  /** Why the document could not be read, naming the YAML line. */
  error?: AgError;
  /** Dotted paths where `fromSource:` is null: a YAML slip the API server would prune silently. */
  nullFromSource: string[];
}

/** Larger inputs are refused before parsing (the API server's own request limit is 3 MiB). */
export const MAX_INPUT_BYTES = 3 * 1024 * 1024;
/** Documents read from one input at most; the rest are reported as one error. */
export const MAX_DOCUMENTS = 10_000;
/** YAML aliases expanded per document at most ("billion laughs" guard). */
const MAX_ALIAS_COUNT = 100;
/** Deeper values are left unsearched for `fromSource:` null; validation rejects them anyway. */
const MAX_SCAN_DEPTH = 64;

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function failure(code: string, message: string): ParsedDocument[] {
  return [{ index: 1, value: null, error: { code, message }, nullFromSource: [] }];
}

/** Where the first byte that is not UTF-8 is: "byte 0xff at offset 12 (line 2)". */
function firstBadByte(bytes: Uint8Array): string {
  let line = 1;
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] ?? 0;
    if (b < 0x80) {
      if (b === 0x0a) line++;
      i++;
      continue;
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > bytes.length || !isValidSequence(bytes.subarray(i, i + len))) {
      return `byte 0x${b.toString(16).padStart(2, '0')} at offset ${i} (line ${line})`;
    }
    i += len;
  }
  return 'an incomplete sequence at the end';
}

/** One multi-byte sequence, checked by the fatal decoder (overlong forms, surrogates). */
function isValidSequence(seq: Uint8Array): boolean {
  try {
    decoder.decode(seq);
    return true;
  } catch {
    return false;
  }
}

function yamlError(e: YAMLError, lines: LineCounter): AgError {
  const pos = lines.linePos(e.pos[0]);
  let text = e.message.split('\n', 1)[0] ?? e.message;
  if (/call stack/i.test(text)) text = 'nested too deeply';
  return { code: 'E_YAML', message: `YAML line ${pos.line}, column ${pos.col}: ${text}` };
}

/** Paths of every `fromSource` key whose value is null. */
function findNullFromSource(value: unknown, path: string, depth: number, out: string[]): void {
  if (depth > MAX_SCAN_DEPTH || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) findNullFromSource(value[i], childPath(path, i), depth + 1, out);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k === 'fromSource' && v === null) out.push(childPath(path, k));
    else findNullFromSource(v, childPath(path, k), depth + 1, out);
  }
}

/** Splits a YAML (or JSON) stream into documents. Bytes must be UTF-8. */
export function parseDocuments(text: string | Uint8Array): ParsedDocument[] {
  let source: string;
  if (typeof text === 'string') {
    if (text.length > MAX_INPUT_BYTES) return failure('E_TOO_LARGE', `input is ${text.length} characters; the limit is ${MAX_INPUT_BYTES} bytes`);
    source = text;
  } else {
    if (text.byteLength > MAX_INPUT_BYTES) return failure('E_TOO_LARGE', `input is ${text.byteLength} bytes; the limit is ${MAX_INPUT_BYTES}`);
    try {
      source = decoder.decode(text);
    } catch {
      return failure('E_ENCODING', `not valid UTF-8: ${firstBadByte(text)}`);
    }
  }
  if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);

  const out: ParsedDocument[] = [];
  const lines = new LineCounter();
  const composer = new Composer({ version: '1.1', uniqueKeys: true });
  let index = 0;
  try {
    // Documents are composed one at a time, so that a stream of very many stops early.
    for (const doc of composer.compose(new Parser(lines.addNewLine).parse(source))) {
      index++;
      if (index > MAX_DOCUMENTS) {
        out.push({ index, value: null, error: { code: 'E_TOO_LARGE', message: `more than ${MAX_DOCUMENTS} documents: the rest are not read` }, nullFromSource: [] });
        break;
      }
      const first = doc.errors[0];
      if (first) {
        out.push({ index, value: null, error: yamlError(first, lines), nullFromSource: [] });
        continue;
      }
      try {
        const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
        const nullFromSource: string[] = [];
        findNullFromSource(value, '', 0, nullFromSource);
        out.push({ index, value, nullFromSource });
      } catch (e) {
        const why = e instanceof RangeError ? 'nested too deeply' : e instanceof Error ? e.message : String(e);
        out.push({ index, value: null, error: { code: 'E_YAML', message: `YAML document ${index} could not be read: ${why}` }, nullFromSource: [] });
      }
    }
  } catch (e) {
    // The parser itself gave up (the stack, most likely): that document and the rest are lost.
    const why = e instanceof RangeError ? 'nested too deeply' : e instanceof Error ? e.message : String(e);
    out.push({ index: index + 1, value: null, error: { code: 'E_YAML', message: `YAML could not be parsed from document ${index + 1} on: ${why}` }, nullFromSource: [] });
  }
  return out;
}
