// Small pieces of the webhook: warnings fitting the API server's limits, review parsing,
// the self-signed certificate, certificate-directory loading, the signing key file, metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clipWarning, fitWarnings, parseReview, WARNINGS_MAX_BYTES } from '../../webhook/review.ts';
import { makeSelfSigned } from '../../webhook/selfsigned.ts';
import { loadCertDir } from '../../webhook/tls.ts';
import { readSigningKey } from '../../webhook/server.ts';
import { WebhookMetrics } from '../../webhook/metrics.ts';
import { asciiJson, reviewJson } from '../../webhook/app.ts';
import { coalesceWrites } from '../../webhook/coalesce.ts';

test('warnings: each under 120 characters, 4 KiB in all, a note when some are dropped', () => {
  assert.equal(clipWarning('short'), 'short');
  assert.equal(clipWarning('x'.repeat(500)).length, 119);
  assert.equal(clipWarning('a\nb\tc'), 'a b c');
  const many = Array.from({ length: 200 }, (_, i) => `warning ${i}: ${'w'.repeat(150)}`);
  const fitted = fitWarnings(many);
  for (const w of fitted) assert.ok(w.length < 120);
  assert.ok(Buffer.byteLength(fitted.join('')) <= WARNINGS_MAX_BYTES);
  assert.match(fitted.at(-1)!, /^\d+ more warning\(s\) not shown$/);
  assert.deepEqual(fitWarnings(['a', 'b']), ['a', 'b']);
});

test('parseReview names the field at fault', () => {
  const base = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE' } };
  assert.ok(parseReview(JSON.stringify(base)).ok);
  const cases: [unknown, RegExp][] = [
    [{ ...base, request: { ...base.request, uid: '' } }, /request\.uid/],
    [{ ...base, request: { ...base.request, kind: 'Pod' } }, /request\.kind must be an object/],
    [{ ...base, request: { ...base.request, kind: { group: '', version: 1, kind: 'Pod' } } }, /request\.kind\.version/],
    [{ ...base, request: { ...base.request, namespace: 5 } }, /request\.namespace/],
    [{ ...base, request: { ...base.request, dryRun: 'yes' } }, /request\.dryRun/],
    [{ ...base, request: { ...base.request, userInfo: { username: [] } } }, /request\.userInfo\.username/],
    [{ ...base, request: { ...base.request, object: [] } }, /request\.object/],
    [{ ...base, kind: 'Review' }, /kind must be/],
    [null, /JSON object/],
  ];
  for (const [doc, msg] of cases) {
    const r = parseReview(JSON.stringify(doc));
    assert.ok(!r.ok);
    assert.equal(r.error.httpStatus, 400);
    assert.match(r.error.message, msg);
  }
  const bin = parseReview(Buffer.from([0xff, 0xfe, 0x00]));
  assert.ok(!bin.ok && /not valid JSON/.test(bin.error.message));
});

test('self-signed certificate: parseable, key matches, names in subjectAltName, serverAuth', () => {
  const { cert, key } = makeSelfSigned(['armorgate-webhook.armorgate.svc', '10.0.0.7', 'fd00::1'], 10);
  const x = new crypto.X509Certificate(cert);
  assert.ok(x.checkPrivateKey(crypto.createPrivateKey(key)));
  assert.ok(x.verify(x.publicKey), 'self-signed');
  assert.equal(x.subjectAltName, 'DNS:armorgate-webhook.armorgate.svc, IP Address:10.0.0.7, IP Address:FD00:0:0:0:0:0:0:1');
  assert.ok(x.checkHost('armorgate-webhook.armorgate.svc'));
  assert.ok(x.checkIP('10.0.0.7'));
  assert.deepEqual(x.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
  assert.ok(days > 9.9 && days < 10.1);
});

test('loadCertDir: missing files, mismatched key, garbage', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-unit-'));
  const missing = loadCertDir(dir);
  assert.ok(!missing.ok && /cannot read/.test(missing.message));
  const a = makeSelfSigned(['a']), b = makeSelfSigned(['b']);
  fs.writeFileSync(path.join(dir, 'tls.crt'), a.cert);
  fs.writeFileSync(path.join(dir, 'tls.key'), b.key);
  const mismatch = loadCertDir(dir);
  assert.ok(!mismatch.ok && /does not match/.test(mismatch.message));
  fs.writeFileSync(path.join(dir, 'tls.crt'), 'not a certificate');
  const garbage = loadCertDir(dir);
  assert.ok(!garbage.ok && /invalid certificate/.test(garbage.message));
  fs.writeFileSync(path.join(dir, 'tls.crt'), a.cert);
  fs.writeFileSync(path.join(dir, 'tls.key'), a.key);
  const good = loadCertDir(dir);
  assert.ok(good.ok && good.fingerprint === new crypto.X509Certificate(a.cert).fingerprint256);
});

test('signing key file: trailing whitespace dropped, too short refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'agw-unit-'));
  const f = path.join(dir, 'key');
  fs.writeFileSync(f, '0123456789abcdef0123456789abcdef\r\n');
  assert.equal(Buffer.from(readSigningKey(f)).toString(), '0123456789abcdef0123456789abcdef');
  fs.writeFileSync(f, 'short\n');
  assert.throws(() => readSigningKey(f), /too short/);
});

test('metrics: Prometheus text format with escaped labels and gauges', async () => {
  const m = new WebhookMetrics();
  m.requests.inc({ endpoint: 'mutate-pod', decision: 'patched' });
  m.requests.inc({ endpoint: 'mutate-pod', decision: 'patched' });
  m.requests.inc({ endpoint: 'x"y', decision: 'a\\b' });
  m.duration.observe({ endpoint: 'mutate-pod' }, 0.002);
  m.gauge('armorgate_policies', 'Valid policies.', () => 7);
  const text = await m.render();
  assert.match(text, /^armorgate_admission_requests_total\{endpoint="mutate-pod",decision="patched"\} 2$/m);
  assert.match(text, /endpoint="x\\"y",decision="a\\\\b"/);
  assert.match(text, /^armorgate_admission_duration_seconds_bucket\{le="0.001",endpoint="mutate-pod"\} 0$/m);
  assert.match(text, /^armorgate_admission_duration_seconds_bucket\{le="0.0025",endpoint="mutate-pod"\} 1$/m);
  assert.match(text, /^armorgate_admission_duration_seconds_count\{endpoint="mutate-pod"\} 1$/m);
  assert.match(text, /^# TYPE armorgate_policies gauge\narmorgate_policies 7$/m);
  assert.equal(m.requests.get({ endpoint: 'mutate-pod', decision: 'patched' }), 2);
  assert.doesNotMatch(text, /process_cpu/, 'no process metrics unless asked for');
  assert.throws(() => m.requests.inc({ endpoint: 'mutate-pod', bogus: 'x' }), /armorgate_admission_requests_total: label "bogus" is not one of endpoint, decision/);
});

test('reviewJson: the spliced patch gives the same document as JSON.stringify', () => {
  const withPatch = { uid: 'u"1', allowed: true, patchType: 'JSONPatch' as const, patch: Buffer.from('[{"op":"add"}]').toString('base64'), warnings: ['w "q"'] };
  assert.deepEqual(JSON.parse(reviewJson('admission.k8s.io/v1', 'AdmissionReview', withPatch)), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: withPatch });
  const plain = { uid: 'u', allowed: false, status: { code: 403, message: 'no' } };
  assert.equal(reviewJson('admission.k8s.io/v1', 'AdmissionReview', plain), JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: plain }));
});

test('asciiJson: ASCII text that parses to the same value, non-ASCII escaped (surrogate pairs, lone surrogates too)', () => {
  const values: unknown[] = [
    { a: 'plain', n: 1, b: [true, null] },
    { msg: 'Zugriff verweigert — ü', emoji: '😀', cjk: '拒绝', ctrl: '\u0000\n"\\', lone: '\ud800x\udfff' },
    'é', ['\u0080', '\u07ff', '\u0800', '\uffff'],
  ];
  for (const v of values) {
    const t = asciiJson(v);
    assert.doesNotMatch(t, /[\u0080-\uffff]/);
    assert.deepEqual(JSON.parse(t), v);
  }
  assert.equal(asciiJson({ a: 'plain' }), JSON.stringify({ a: 'plain' }));
  // reviewJson is ASCII too, with or without a spliced patch
  const withPatch = { uid: 'ü', allowed: true, patchType: 'JSONPatch' as const, patch: Buffer.from('[]').toString('base64'), warnings: ['— ⚠'] };
  const t = reviewJson('admission.k8s.io/v1', 'AdmissionReview', withPatch);
  assert.doesNotMatch(t, /[\u0080-\uffff]/);
  assert.deepEqual(JSON.parse(t).response, withPatch);
});

test('coalesceWrites: answers of one pass are written together after it, in order; a long pass is cut at maxWaitMs; a throwing write loses no other answer', async () => {
  let clock = 0;
  const deferred: (() => void)[] = [];
  const written: string[] = [];
  const errors: [unknown, string][] = [];
  const queue = coalesceWrites((target: string, answer: number) => {
    if (target.startsWith('bad')) throw new Error(`socket gone: ${target}`);
    written.push(`${target}:${answer}`);
  }, {
    maxWaitMs: 1, now: () => clock, defer: (f) => { deferred.push(f); },
    onError: (e, target) => { errors.push([e, target]); if (target === 'bad-report') throw new Error('the report failed too'); },
  });

  // one pass: three answers queued, nothing written until the pass ends; one flush scheduled
  queue('a', 1); clock += 0.2; queue('b', 2); clock += 0.2; queue('c', 3);
  assert.deepEqual(written, []);
  assert.equal(deferred.length, 1);
  deferred.shift()!();
  assert.deepEqual(written, ['a:1', 'b:2', 'c:3']);

  // a pass longer than maxWaitMs: the queue is written when an answer arrives past it
  written.length = 0;
  queue('d', 4); clock += 0.6; queue('e', 5);
  assert.deepEqual(written, []);
  clock += 0.5; queue('f', 6); // 1.1 ms after d
  assert.deepEqual(written, ['d:4', 'e:5', 'f:6']);
  queue('g', 7); // a new batch, written at the end of the pass
  assert.deepEqual(written, ['d:4', 'e:5', 'f:6']);
  assert.equal(deferred.length, 1);
  deferred.shift()!();
  assert.deepEqual(written, ['d:4', 'e:5', 'f:6', 'g:7']);

  // a write that throws is reported with its target; the answers after it are still written,
  // even when the report throws as well
  written.length = 0;
  queue('h', 8); queue('bad', 9); queue('i', 10); queue('bad-report', 11); queue('j', 12);
  deferred.shift()!();
  assert.deepEqual(written, ['h:8', 'i:10', 'j:12']);
  assert.deepEqual(errors.map(([e, t]) => [String(e), t]), [['Error: socket gone: bad', 'bad'], ['Error: socket gone: bad-report', 'bad-report']]);

  // the default deferral is setImmediate: after the current callback's ticks, not within it
  const order: string[] = [];
  const real = coalesceWrites((t: string) => order.push(t), { maxWaitMs: 1, onError: (e, t) => errors.push([e, t]) });
  await new Promise<void>((resolve) => {
    real('x', 0);
    process.nextTick(() => order.push('tick'));
    setImmediate(() => { order.push('immediate'); resolve(); });
  });
  assert.deepEqual(order, ['tick', 'x', 'immediate']);
});
