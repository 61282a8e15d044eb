#!/usr/bin/env bash
# The main job: the whole ArmorGate flow on this one machine, inside a test VM (qemu, TCG) booting
# Debian's 6.12 kernel (UEK8's base) with this machine's root shared read-only: the webhook
# (standalone, self-signed HTTPS) with the seed's policies, a pod admitted through /mutate-pod, the
# pod's containers as real runc containers in kubelet's cgroups, the enforcer putting its profile in
# force, an "attacker" root in those containers and the same steps in a control container outside
# every pod, and a report (attempts, KubeArmor-shaped alerts, the OpenTelemetry trace as a tree).
# Run as root on Debian 12; idempotent; the first run downloads packages and kernels and builds the
# containers' Debian root with debootstrap.
#   bash scripts/demo.sh [--kernel 6.12|6.1] [--attach-mode cgroup|global] [--json FILE] [--verbose]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "demo: preparing (Node 24, npm packages, Debian packages; quiet when already done)" >&2
bash scripts/setup.sh --apt clang llvm libbpf-dev libbpf1 bpftool qemu-system-x86 busybox-static cpio kmod xz-utils runc debootstrap e2fsprogs perl-base
source scripts/env.sh
echo "demo: building the BPF object" >&2
bash scripts/build-bpf.sh
echo "demo: fetching the test kernels (once)" >&2
bash scripts/vm-prepare.sh
exec node demo/run.ts "$@"
