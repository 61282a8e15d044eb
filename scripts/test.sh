#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (root): installs what it needs, idempotently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# kubernetes-client (kubectl 1.20) only where no kubectl is installed: it would clash with another kubectl package
bash scripts/setup.sh --apt clang llvm libbpf-dev libbpf1 bpftool qemu-system-x86 busybox-static cpio kmod xz-utils runc debootstrap $(command -v kubectl >/dev/null || echo kubernetes-client)
source scripts/env.sh
npm run --silent lint
bash scripts/build-bpf.sh
node --test --test-timeout=900000 'test/**/*.test.ts'
