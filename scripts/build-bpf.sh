#!/usr/bin/env bash
# Builds bpf/*.bpf.c into CO-RE objects: build/armorgate.bpf.o (any kernel), build/armorgate-cast.bpf.o
# (the same with -DAG_CAST: walk steps as plain loads through bpf_rdonly_cast, kernels from 6.2 on;
# bpf/kread.h; the loader picks it where the kernel has the kfunc), and, for the VM tests of an
# upgrade across map layouts, build/armorgate-variant.bpf.o (the same with -DAG_LAYOUT_VARIANT).
# Installs clang, llvm, libbpf-dev and bpftool with apt-get when missing;
# generates build/vmlinux.h from /sys/kernel/btf/vmlinux (never committed).
# Idempotent: does nothing when the object is newer than its sources.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/build"
obj="$out/armorgate.bpf.o"
mkdir -p "$out"

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v llvm-strip >/dev/null 2>&1 || need+=(llvm)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null 2>&1 || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
if [ "${#need[@]}" -gt 0 ]; then
  echo "build-bpf: installing ${need[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then echo "build-bpf: need root to apt-get install ${need[*]}" >&2; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2 ||
    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >&2; }
fi
bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)

if [ ! -s "$out/vmlinux.h" ]; then
  [ -r /sys/kernel/btf/vmlinux ] || { echo "build-bpf: /sys/kernel/btf/vmlinux missing (kernel without BTF)" >&2; exit 1; }
  "$bpftool" btf dump file /sys/kernel/btf/vmlinux format c > "$out/vmlinux.h.tmp"
  mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
fi

up_to_date=1
[ -f "$obj" ] || up_to_date=0
[ -f "$out/armorgate-variant.bpf.o" ] || up_to_date=0
[ -f "$out/armorgate-cast.bpf.o" ] || up_to_date=0
if [ "$up_to_date" = 1 ]; then
  for f in "$root"/bpf/*.c "$root"/bpf/*.h "$out/vmlinux.h" "$0"; do
    [ "$f" -nt "$obj" ] && up_to_date=0
  done
fi
if [ "$up_to_date" = 1 ]; then echo "build-bpf: $obj is up to date" >&2; exit 0; fi

srcs=("$root"/bpf/*.bpf.c)
if [ "${#srcs[@]}" -ne 1 ]; then echo "build-bpf: expected one bpf/*.bpf.c, found ${#srcs[@]}" >&2; exit 1; fi
build() { # output, extra clang flags...
  local o="$1"; shift
  clang -g -O2 -target bpf -D__TARGET_ARCH_x86 -mcpu=v3 \
    -I"$out" -I"$root/bpf" -Wall -Wno-unused-function -Werror "$@" \
    -c "${srcs[0]}" -o "$o.tmp"
  llvm-strip -g --strip-unneeded "$o.tmp" -o "$o.tmp2" 2>/dev/null && mv "$o.tmp2" "$o.tmp" || true
  mv "$o.tmp" "$o"
}
build "$out/armorgate-variant.bpf.o" -DAG_LAYOUT_VARIANT
build "$out/armorgate-cast.bpf.o" -DAG_CAST
build "$obj"
echo "build-bpf: built $obj" >&2
