#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (root): installs what it needs, idempotently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# kubernetes-client (kubectl 1.20) only where no kubectl is installed: it would clash with another kubectl package
bash scripts/setup.sh --apt clang llvm libbpf-dev libbpf1 bpftool qemu-system-x86 busybox-static cpio kmod xz-utils runc debootstrap $(command -v kubectl >/dev/null || echo kubernetes-client)
source scripts/env.sh
# the kernels for the VM tests (Debian packages, unpacked; quiet when there), then the rest of what a
# boot needs built in the background while the tests that need no VM run first on the other core
# (vm/harness/warm.ts; a boot that comes before it is done builds what is missing itself)
bash scripts/vm-prepare.sh
node vm/harness/warm.ts &
warm=$!
npm run --silent lint
bash scripts/build-bpf.sh
status=0
# the tests that need no VM two files at a time (both cores: 124 s here, 180 s one at a time); then
# the VM suites one file at a time, each of which keeps both cores busy with two boots at a time
node --test --test-concurrency=2 --test-timeout=900000 $(find test -name '*.test.ts' -not -path 'test/vm/*' | sort) || status=$?
node --test --test-concurrency=1 --test-timeout=900000 'test/vm/**/*.test.ts' || status=$?
wait "$warm" || true
exit "$status"
