#!/usr/bin/env bash
# Builds bpf/*.bpf.c into build/armorgate.bpf.o (owned by the kernel-enforcement work).
set -euo pipefail
echo "build-bpf: no BPF sources yet" >&2
