// The benchmark's load driver frames HTTP/1.1 answers by hand (bench/webhook-load.ts): its
// framing, and that a connection that fails, closes or cannot be framed fails its requests
// instead of hanging the run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Conn } from '../../bench/webhook-load.ts';
import { makeSelfSigned } from '../../webhook/selfsigned.ts';

const pair = makeSelfSigned(['localhost']);
const REQ = Buffer.from('POST /x HTTP/1.1\r\nhost: localhost\r\ncontent-length: 0\r\n\r\n');

/** A TLS server that answers each request (one line per request read) with `answer(n)`, written
 *  in the given pieces (each its own TLS record). */
async function server(answer: (n: number, sock: tls.TLSSocket) => Buffer[] | null): Promise<{ port: number; close(): void }> {
  const s = tls.createServer({ cert: pair.cert, key: pair.key }, (sock) => {
    let n = 0, pending = '';
    sock.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      while (pending.includes('\r\n\r\n')) {
        pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
        const pieces = answer(n++, sock);
        if (pieces !== null) for (const p of pieces) sock.write(p);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as AddressInfo).port, close: () => s.close() };
}

const ok = (body: string, name = 'content-length', sep = ' '): Buffer => Buffer.from(`HTTP/1.1 200 OK\r\nx-a: b\r\n${name}:${sep}${Buffer.byteLength(body)}\r\n\r\n${body}`);

test('load driver: answers split across records, any header case, a tab after the colon; the status read', async () => {
  const s = await server((n) => {
    if (n === 0) { const a = ok('{"a":1}'); return [a.subarray(0, 5), a.subarray(5, 40), a.subarray(40)]; }
    if (n === 1) return [ok('x'.repeat(70_000), 'Content-Length')];
    if (n === 2) return [ok('tab', 'CONTENT-LENGTH', '\t')];
    if (n === 3) return [ok('next')]; // misread if the one before was framed wrong
    return [Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\nno')];
  });
  const c = new Conn(s.port, pair.cert);
  await c.ready();
    const got: boolean[] = [];
  for (let i = 0; i < 5; i++) got.push(await c.sendP(REQ));
  assert.deepEqual(got, [true, true, true, true, false]);
  c.close();
  s.close();
});

test('load driver: a closed connection, an error or an answer it cannot frame fails the request, and every later one', async () => {
  const s = await server((n, sock) => {
    if (n === 0) { sock.end(); return null; }
    return null;
  });
  const c = new Conn(s.port, pair.cert);
  await c.ready();
  assert.equal(await c.sendP(REQ), false, 'closed by the server while waiting');
  assert.equal(await c.sendP(REQ), false, 'and after');
  s.close();
  const chunked = await server(() => [Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n')]);
  const d = new Conn(chunked.port, pair.cert);
  await d.ready();
  assert.equal(await d.sendP(REQ), false, 'no content-length: not framed, failed');
  assert.equal(await d.sendP(REQ), false);
  chunked.close();
});
