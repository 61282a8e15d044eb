// Everyday UX through the real command (bin/armorgate.js): --version, --log-level and LOG_LEVEL
// refused when unknown, and the daemons' one log shape (level names, ISO time, err with stack).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { REPO_ROOT } from '../policy/kubearmor-data.ts';
import { logLevel, makeLogger } from '../../telemetry/log.ts';

const BIN = join(REPO_ROOT, 'bin', 'armorgate.js');
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });

test('armorgate --version prints package.json\'s version, exit 0', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = run([flag]);
    assert.equal(r.status, 0);
    assert.equal(r.stdout.trim(), pkg.version);
  }
});

test('an unknown --log-level or LOG_LEVEL is a usage error naming where it came from (exit 2)', () => {
  const a = run(['enforcer', '--signing-key-file=/nonexistent', '--log-level=loud']);
  assert.equal(a.status, 2);
  assert.match(a.stderr, /--log-level: unknown level "loud"; one of fatal, error, warn, info, debug, trace, silent/);
  const b = run(['webhook', '--policies-dir=/nonexistent'], { LOG_LEVEL: 'chatty' });
  assert.equal(b.status, 2);
  assert.match(b.stderr, /LOG_LEVEL: unknown level "chatty"/);
  assert.deepEqual(logLevel(undefined, {}), { ok: true, value: 'info' });
  assert.deepEqual(logLevel(undefined, { LOG_LEVEL: 'DEBUG' }), { ok: true, value: 'debug' });
  assert.deepEqual(logLevel('warn', { LOG_LEVEL: 'debug' }), { ok: true, value: 'warn' }, 'the flag wins');
});

test('one log shape: level names, ISO time, the daemon\'s name, errors with their stack; the level filters', () => {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({ write(chunk, _e, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const log = makeLogger({ name: 'armorgate-test', level: 'info', destination });
  log.debug('hidden');
  log.warn({ err: new Error('boom') }, 'failed');
  log.error({ error: new TypeError('bad') }, 'also failed');
  assert.equal(lines.length, 2, 'debug filtered at info');
  const [a, b] = lines;
  assert.equal(a?.level, 'warn');
  assert.equal(a?.name, 'armorgate-test');
  assert.match(String(a?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const e = a?.err as { type: string; message: string; stack: string };
  assert.equal(e.message, 'boom');
  assert.match(e.stack, /everyday\.test\.ts/);
  assert.equal((b?.error as { type: string }).type, 'TypeError');
});

test('armorgate enforcer refuses an OTEL_* value it cannot honour before starting (exit 2, the variable named), as the webhook does', () => {
  const protocol = run(['enforcer', '--signing-key-file=/nonexistent'], { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_SDK_DISABLED: '' });
  assert.equal(protocol.status, 2, protocol.stderr);
  assert.match(protocol.stderr, /^armorgate enforcer: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported by this build/);
  const logs = run(['enforcer', '--signing-key-file=/nonexistent'], { OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'thrift', OTEL_SDK_DISABLED: '' });
  assert.equal(logs.status, 2);
  assert.match(logs.stderr, /OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="thrift": unknown protocol/);
  const propagators = run(['enforcer', '--signing-key-file=/nonexistent'], { OTEL_PROPAGATORS: 'tracecontext,b3', OTEL_SDK_DISABLED: '' });
  assert.equal(propagators.status, 2);
  assert.match(propagators.stderr, /OTEL_PROPAGATORS="tracecontext,b3": "b3" is not supported/);
  assert.equal(propagators.stdout, '', 'nothing started');
});
