// libbpf's messages reach the logger's sink instead of stderr: opening a BPF object that does not
// exist makes libbpf warn (no privilege needed). Skipped where libbpf.so.1 is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import koffi from 'koffi';
import { routeLibbpfPrint, type LibbpfLevel } from '../../enforcer/kernel/libbpf-log.ts';

test('libbpf messages go through the sink, formatted, levels mapped, disabled levels skipped', (t) => {
  let so;
  try { so = koffi.load('libbpf.so.1'); } catch { t.skip('libbpf.so.1 is not installed here'); return; }
  const got: { level: LibbpfLevel; message: string }[] = [];
  const enabled = new Set<LibbpfLevel>(['warn', 'info']);
  const r = routeLibbpfPrint({ enabled: (l) => enabled.has(l), write: (level, message) => got.push({ level, message }) });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const open = so.func('bpf_object__open_file', 'void *', ['const char *', 'void *']) as (p: string, o: null) => unknown;
  assert.equal(open('/nonexistent/armorgate-test.bpf.o', null), null);
  const line = got.find((g) => g.message.includes('/nonexistent/armorgate-test.bpf.o'));
  assert.ok(line, `libbpf's message about the file reached the sink: ${JSON.stringify(got)}`);
  assert.equal(line.level, 'warn');
  assert.match(line.message, /^libbpf: /, 'the printf format was expanded');
  assert.doesNotMatch(line.message, /%s|\n$/);
  const n = got.length;
  enabled.clear();
  open('/nonexistent/again.bpf.o', null);
  assert.equal(got.length, n, 'nothing written for disabled levels');
});
