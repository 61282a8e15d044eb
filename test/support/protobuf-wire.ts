// A tiny protobuf wire-format reader and writer for tests: varints and length-delimited fields
// only (the only wire types KubeArmor's feeder contract uses), and a decoder that names fields
// through a test's own field table (kubearmor-fields.ts), never through a .proto.
import { KUBEARMOR_FIELDS, fieldByNumber, wireType, type FieldType } from './kubearmor-fields.ts';

export interface RawField { number: number; wire: number; varint?: bigint; bytes?: Buffer }

/** Every field of one message's bytes, in order; throws on a wire type other than 0 or 2, or on
 *  bytes that end inside a field. */
export function rawFields(buf: Buffer): RawField[] {
  const out: RawField[] = [];
  let at = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (at >= buf.length) throw new Error('a varint runs past the end');
      const b = buf[at++]!;
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      if (shift > 63n) throw new Error('a varint longer than 10 bytes');
    }
  };
  while (at < buf.length) {
    const key = varint();
    const number = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) out.push({ number, wire, varint: varint() });
    else if (wire === 2) {
      const len = Number(varint());
      if (at + len > buf.length) throw new Error(`field ${number}: ${len} bytes announced, ${buf.length - at} left`);
      out.push({ number, wire, bytes: buf.subarray(at, at + len) });
      at += len;
    } else throw new Error(`field ${number}: wire type ${wire}, not used by this contract`);
  }
  return out;
}

export interface Decoded { [field: string]: string | number | string[] | Record<string, string> | Decoded }

function value(type: FieldType, f: RawField): string | number | Decoded | [string, string] {
  switch (type) {
    case 'int32': return Number(BigInt.asIntN(32, f.varint!));
    case 'int64': return Number(BigInt.asIntN(64, f.varint!));
    case 'string': case 'repeated string': return f.bytes!.toString('utf8');
    case 'Podowner': case 'ExecEvent': return decodeMessage(type, f.bytes!);
    case 'map<string,string>': {
      // a map entry is a message: key = 1, value = 2
      const entry = rawFields(f.bytes!);
      const key = entry.find((e) => e.number === 1 && e.wire === 2)?.bytes?.toString('utf8') ?? '';
      const val = entry.find((e) => e.number === 2 && e.wire === 2)?.bytes?.toString('utf8') ?? '';
      return [key, val];
    }
  }
}

/** The message's fields by name, read through KUBEARMOR_FIELDS. Throws on a field number the
 *  table does not have for this message, or a wire type other than the table's. */
export function decodeMessage(message: string, buf: Buffer): Decoded {
  if (KUBEARMOR_FIELDS[message] === undefined) throw new Error(`no message ${message} in the table`);
  const out: Decoded = {};
  for (const f of rawFields(buf)) {
    const spec = fieldByNumber(message, f.number);
    if (spec === undefined) throw new Error(`${message}: field number ${f.number} is not in KubeArmor's contract`);
    const [name, { type }] = spec;
    if (f.wire !== wireType(type)) throw new Error(`${message}.${name} (${f.number}): wire type ${f.wire}, the contract says ${wireType(type)}`);
    const v = value(type, f);
    if (type === 'repeated string') ((out[name] ??= []) as string[]).push(v as string);
    else if (type === 'map<string,string>') { const [k, x] = v as [string, string]; ((out[name] ??= {}) as Record<string, string>)[k] = x; }
    else out[name] = v as string | number | Decoded;
  }
  return out;
}

function varintBytes(n: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}

/** A message's bytes from named values, through KUBEARMOR_FIELDS (scalars only: requests). */
export function encodeMessage(message: string, values: Record<string, string | number>): Buffer {
  const parts: number[] = [];
  for (const [name, v] of Object.entries(values)) {
    const spec = KUBEARMOR_FIELDS[message]?.[name];
    if (spec === undefined) throw new Error(`${message}.${name} is not in the table`);
    parts.push(...varintBytes(BigInt((spec.number << 3) | wireType(spec.type))));
    if (typeof v === 'number') parts.push(...varintBytes(BigInt(v)));
    else {
      const b = Buffer.from(v, 'utf8');
      parts.push(...varintBytes(BigInt(b.length)), ...b);
    }
  }
  return Buffer.from(parts);
}
