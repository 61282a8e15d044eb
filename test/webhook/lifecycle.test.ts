// Certificate rotation under load (kubelet's `..data` symlink swap) with no failed request,
// and the daemon's SIGTERM: stop accepting, finish the in-flight review, exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import crypto from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { v8FlagsFor } from '../../bin/v8-flags.js';
import { makeSelfSigned } from '../../webhook/selfsigned.ts';
import { waitFor } from '../support/wait.ts';
import { podReview, policiesDir, realisticPod, startTestWebhook } from './fixtures.ts';

/** Writes a cert/key version the way kubelet lays out a Secret volume and swaps `..data` to it. */
function publish(root: string, version: string, pair: { cert: string; key: string }): void {
  const dir = path.join(root, `..${version}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'tls.crt'), pair.cert);
  fs.writeFileSync(path.join(dir, 'tls.key'), pair.key);
  const tmp = path.join(root, '..data_tmp');
  fs.symlinkSync(`..${version}`, tmp);
  fs.renameSync(tmp, path.join(root, '..data')); // atomic swap
  for (const f of ['tls.crt', 'tls.key']) if (!fs.existsSync(path.join(root, f))) fs.symlinkSync(path.join('..data', f), path.join(root, f));
}

const fingerprint = (pem: string): string => new crypto.X509Certificate(pem).fingerprint256;

test('certificate rotation under load: new connections get the new certificate, no request fails', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-certs-'));
  // distinct subjects: a client trusting both must find the right issuer by name
  const v1 = makeSelfSigned(['localhost', '127.0.0.1'], 30, 'armorgate-webhook v1');
  const v2 = makeSelfSigned(['localhost', '127.0.0.1'], 30, 'armorgate-webhook v2');
  publish(root, '2026_11_28_10_00_00.1', v1);
  const w = await startTestWebhook({ tlsCertDir: root, certPollMs: 200 });
  const ca = [v1.cert, v2.cert];
  const body = JSON.stringify(podReview('CREATE', realisticPod()));
  const seen = new Map<string, number>();
  const failures: string[] = [];
  let stop = false;
  let afterRotation = 0;
  let rotated = false;
  const one = (): Promise<void> => new Promise((resolve) => {
    // a fresh connection (and TLS handshake) per request: each sees the certificate of the moment
    const req = https.request({ host: '127.0.0.1', port: w.hook.port, path: '/mutate-pod', method: 'POST', agent: false, ca, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const fp = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        seen.set(fp, (seen.get(fp) ?? 0) + 1);
        if (rotated && fp === fingerprint(v2.cert)) afterRotation++;
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200 || !(JSON.parse(text) as { response: { allowed: boolean } }).response.allowed) failures.push(`${res.statusCode} ${text.slice(0, 200)}`);
        resolve();
      });
    });
    req.on('error', (e) => { failures.push(e.message); resolve(); });
    req.end(body);
  });
  const loops = Array.from({ length: 4 }, async () => { while (!stop) await one(); });
  try {
    await waitFor(() => (seen.get(fingerprint(v1.cert)) ?? 0) >= 20, 'load on the first certificate', 10_000);
    publish(root, '2026_11_28_11_00_00.2', v2);
    fs.rmSync(path.join(root, '..2026_11_28_10_00_00.1'), { recursive: true }); // kubelet removes the old version
    rotated = true;
    await waitFor(() => afterRotation >= 30, 'requests on the rotated certificate', 15_000);
    // a broken pair (key of another certificate) is refused; the current certificate stays
    publish(root, '2026_11_28_12_00_00.3', { cert: makeSelfSigned(['localhost']).cert, key: v1.key });
    await waitFor(() => w.hook.metrics.tlsReloads.get({ result: 'error' }) >= 1, 'the broken pair noticed', 5000);
    const before = afterRotation;
    await waitFor(() => afterRotation >= before + 20, 'still serving the rotated certificate', 10_000);
  } finally {
    stop = true;
    await Promise.all(loops);
    await w.close();
  }
  assert.deepEqual(failures, [], 'no failed request');
  assert.ok((seen.get(fingerprint(v1.cert)) ?? 0) >= 20);
  assert.ok((seen.get(fingerprint(v2.cert)) ?? 0) >= 50);
  assert.equal(seen.size, 2, 'only the two valid certificates were ever served');
  assert.ok(w.hook.metrics.tlsReloads.get({ result: 'ok' }) >= 2);
});

test('SIGTERM: stops accepting, finishes the in-flight review, exits 0', { timeout: 60_000 }, async () => {
  const dir = policiesDir();
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-state-'));
  const signingKeyFile = path.join(state, 'key');
  fs.writeFileSync(signingKeyFile, crypto.randomBytes(32).toString('hex'));
  const child = spawn(process.execPath, ['bin/armorgate.js', 'webhook', '--policies-dir', dir, '--port', '0', '--metrics-port=-1', '--signing-key-file', signingKeyFile, '--shutdown-grace', '20'],
    { cwd: path.join(import.meta.dirname, '..', '..'), stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_TRACES_EXPORTER: 'none' } });
  const logs: Record<string, unknown>[] = [];
  createInterface(child.stderr).on('line', (l) => { try { logs.push(JSON.parse(l) as Record<string, unknown>); } catch { logs.push({ msg: l }); } });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => logs.some((l) => l.msg === 'webhook listening'), 'the listening log', 20_000);
    const listening = logs.find((l) => l.msg === 'webhook listening')!;
    const port = listening.port as number;
    const ca = fs.readFileSync(path.join(listening.certDir as string, 'tls.crt'));
    assert.ok(logs.some((l) => typeof l.certDir === 'string' && /self-signed/.test(String(l.msg))), 'logs where the certificate went');
    // the daemon runs with its V8 flags, old-generation sizing included (same PID: execve)
    const argv = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    for (const flag of v8FlagsFor(['webhook'])) assert.ok(argv.includes(flag), `the webhook runs as ${argv.join(' ')}`);
    const body = Buffer.from(JSON.stringify(podReview('CREATE', realisticPod())));
    let answer = '';
    let status = 0;
    const inflight = new Promise<void>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, path: '/mutate-pod', method: 'POST', ca, servername: 'localhost', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
        status = res.statusCode ?? 0;
        res.on('data', (c: Buffer) => { answer += c.toString(); });
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.write(body.subarray(0, 100)); // the review is in flight: half a body sent
      setTimeout(() => {
        child.kill('SIGTERM');
        setTimeout(() => req.end(body.subarray(100)), 500);
      }, 200);
    });
    await inflight;
    assert.equal(status, 200);
    const review = JSON.parse(answer) as { response: { allowed: boolean; patch?: string } };
    assert.equal(review.response.allowed, true);
    assert.ok(review.response.patch, 'the in-flight review was answered in full');
    // no new connection is accepted once shutting down
    const refused = await new Promise<boolean>((resolve) => {
      const r = https.request({ host: '127.0.0.1', port, path: '/healthz', ca, servername: 'localhost', agent: false }, (res) => { res.resume(); resolve(false); });
      r.on('error', () => resolve(true));
      r.end();
    });
    assert.ok(refused, 'new connections refused after SIGTERM');
    const code = await exited;
    assert.equal(code, 0);
    assert.ok(logs.some((l) => l.msg === 'webhook stopped'));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
