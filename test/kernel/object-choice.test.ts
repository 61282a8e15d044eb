// Which build of bpf/ the loader takes when none is named (loader.ts defaultObject): the one whose
// walk steps are plain loads through bpf_rdonly_cast (build/armorgate-cast.bpf.o) where the
// running kernel's BTF has that kfunc, the probe-read one otherwise. Here on this machine's
// kernel; the VM suite checks the choice on 6.12 and 6.1 (`kernel: the build that fits…`).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { kernelHasFunc } from '../../enforcer/kernel/libbpf.ts';
import { CAST_KFUNC, CAST_OBJECT, DEFAULT_OBJECT, defaultObject, kernelVersion } from '../../enforcer/kernel/loader.ts';

test('kernelHasFunc reads the kernel BTF: bpf_rdonly_cast from 6.2 on, a made-up name never', (t) => {
  if (!existsSync('/sys/kernel/btf/vmlinux')) { t.skip('skipped: this kernel has no BTF (/sys/kernel/btf/vmlinux)'); return; }
  const [maj, min] = kernelVersion();
  const has = kernelHasFunc(CAST_KFUNC);
  assert.ok(has.ok, has.ok ? '' : has.error.message);
  assert.equal(has.value, maj > 6 || (maj === 6 && min >= 2), `kernel ${maj}.${min}`);
  const none = kernelHasFunc('ag_no_such_kernel_function');
  assert.ok(none.ok);
  assert.equal(none.value, false);
});

test('defaultObject: the cast build where the kernel has the kfunc and it was built, else the probe-read build', (t) => {
  if (!existsSync('/sys/kernel/btf/vmlinux')) { t.skip('skipped: this kernel has no BTF (/sys/kernel/btf/vmlinux)'); return; }
  const has = kernelHasFunc(CAST_KFUNC);
  assert.ok(has.ok);
  assert.equal(defaultObject(), has.value && existsSync(CAST_OBJECT) ? CAST_OBJECT : DEFAULT_OBJECT);
});
