// A self-signed X.509 v3 certificate (ECDSA P-256, SHA-256) built with node:crypto and a
// minimal DER writer: for standalone mode, where there is no cert-manager. Only what a TLS
// server certificate needs: subject CN, validity, subjectAltName (DNS and IP), basic
// constraints, key usage and extended key usage serverAuth.
import crypto from 'node:crypto';
import net from 'node:net';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, body: Buffer): Buffer { return Buffer.concat([Buffer.from([tag]), len(body.length), body]); }
const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const ctx = (n: number, body: Buffer, constructed = true): Buffer => tlv((constructed ? 0xa0 : 0x80) | n, body);
const bool = (b: boolean): Buffer => tlv(0x01, Buffer.from([b ? 0xff : 0]));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) stack.unshift((v & 0x7f) | 0x80);
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2), 'ascii')) : tlv(0x18, Buffer.from(iso, 'ascii'));
}

function bitString(b: Buffer, unused = 0): Buffer { return tlv(0x03, Buffer.concat([Buffer.from([unused]), b])); }

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface SelfSigned { cert: string; key: string }

/** Makes a key pair and a self-signed certificate for `names` (DNS names or IP addresses). */
export function makeSelfSigned(names: string[], days = 365, commonName = names[0] ?? 'armorgate-webhook'): SelfSigned {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = crypto.randomBytes(16);
  serial[0]! &= 0x7f;
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(Date.now() + days * 86_400_000);
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))));
  const san = seq(...names.map((n) => {
    const ipv = net.isIP(n);
    if (ipv === 4) return ctx(7, Buffer.from(n.split('.').map(Number)), false);
    if (ipv === 6) return ctx(7, ipv6Bytes(n), false);
    return ctx(2, Buffer.from(n, 'ascii'), false);
  }));
  const extensions = ctx(3, seq(
    seq(oid('2.5.29.19'), bool(true), octets(seq())),                                  // basicConstraints: CA false
    seq(oid('2.5.29.15'), bool(true), octets(bitString(Buffer.from([0x80]), 7))),      // keyUsage: digitalSignature
    seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1')))),                      // extKeyUsage: serverAuth
    seq(oid('2.5.29.17'), octets(san)),                                                // subjectAltName
  ));
  const tbs = seq(ctx(0, integer(Buffer.from([2]))), integer(serial), ECDSA_SHA256, name, seq(time(notBefore), time(notAfter)), name, spki, extensions);
  const signature = crypto.sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = seq(tbs, ECDSA_SHA256, bitString(signature));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function ipv6Bytes(addr: string): Buffer {
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return Buffer.from(groups.flatMap((g) => { const v = parseInt(g, 16); return [v >> 8, v & 0xff]; }));
}
