#!/usr/bin/env bash
# Prepares what the VM tests need, idempotently (run as root on Debian 12):
#   - Debian packages: qemu-system-x86, busybox-static, cpio, kmod, xz-utils, e2fsprogs (installed
#     when missing; e2fsprogs makes the node_modules image, see vm/harness/modules-image.ts), runc and
#     debootstrap (the guests' real containers: vm/harness/rootfs.ts), so that a VM benchmark or the
#     demo works on a machine where the test command has not run;
#   - the newest Debian 6.12 (+deb12, UEK8's base) and 6.1 kernels, fetched with `apt-get download`
#     into .cache/vm/debs/ and unpacked with `dpkg -x` into .cache/vm/kernel-<series>/ (never installed).
# For each series it writes .cache/vm/kernel-<series>.env (KERNEL_PACKAGE, KERNEL_RELEASE, KERNEL_IMAGE,
# KERNEL_MODULES) which the harness reads. Quiet when everything is already there.
# Set AG_VM_REFRESH=1 to look for a newer kernel package even when one is already unpacked.
# Usage: scripts/vm-prepare.sh [6.12|6.1 ...]   (default: both)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$root/.cache/vm"
mkdir -p "$cache/debs"

say() { echo "vm-prepare: $*" >&2; }
updated=0
apt_update() {
  if [ "$updated" = 0 ]; then say "apt-get update"; apt-get update -qq >&2; updated=1; fi
}

# --- host packages --------------------------------------------------------------------------
need=(qemu-system-x86 busybox-static cpio kmod xz-utils e2fsprogs runc debootstrap)
missing=()
for p in "${need[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then say "missing ${missing[*]} and not root: cannot install"; exit 3; fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 2>/dev/null; then
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi

# --- kernels ----------------------------------------------------------------------------------
# Package name patterns (extended regex over `apt-cache pkgnames`), newest by version sort.
pattern_for() {
  case "$1" in
    6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ;;
    6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
    *) say "unknown kernel series '$1' (expected 6.12 or 6.1)"; exit 2 ;;
  esac
}

newest_package() {
  apt-cache pkgnames linux-image- 2>/dev/null | grep -E "$(pattern_for "$1")" | sort -V | tail -n 1 || true
}

prepare_kernel() {
  local series="$1" envf="$cache/kernel-$1.env" dir="$cache/kernel-$1"
  if [ -f "$envf" ] && [ "${AG_VM_REFRESH:-0}" != 1 ]; then
    # shellcheck disable=SC1090
    . "$envf"
    if [ -f "$KERNEL_IMAGE" ] && [ -f "$KERNEL_MODULES/modules.dep" ]; then return 0; fi
  fi
  local pkg
  pkg="$(newest_package "$series")"
  if [ -z "$pkg" ]; then apt_update; pkg="$(newest_package "$series")"; fi
  if [ -z "$pkg" ]; then say "no package matches $(pattern_for "$series") in the apt sources"; exit 4; fi
  if [ -f "$envf" ] && grep -qx "KERNEL_PACKAGE=$pkg" "$envf"; then
    # shellcheck disable=SC1090
    . "$envf"
    if [ -f "$KERNEL_IMAGE" ] && [ -f "$KERNEL_MODULES/modules.dep" ]; then return 0; fi
  fi
  say "fetching $pkg"
  local deb
  deb="$(ls "$cache/debs/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$deb" ]; then
    if ! (cd "$cache/debs" && apt-get download -q "$pkg" >&2 2>/dev/null); then
      apt_update
      (cd "$cache/debs" && apt-get download -q "$pkg" >&2)
    fi
    deb="$(ls "$cache/debs/${pkg}_"*.deb | sort -V | tail -n 1)"
  fi
  rm -rf "$dir.tmp"
  dpkg -x "$deb" "$dir.tmp"
  local image release modules
  image="$(ls "$dir.tmp"/boot/vmlinuz-* | head -n 1)"
  release="${image##*/vmlinuz-}"
  if [ -d "$dir.tmp/lib/modules/$release" ]; then modules="lib/modules/$release"
  else modules="usr/lib/modules/$release"; fi
  [ -d "$dir.tmp/$modules" ] || { say "$deb has no modules folder for $release"; exit 5; }
  # The package leaves modules.dep to its postinst: make it here so `modprobe` works in the guest.
  depmod -b "$dir.tmp" "$release"
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
  {
    echo "KERNEL_PACKAGE=$pkg"
    echo "KERNEL_RELEASE=$release"
    echo "KERNEL_IMAGE=$dir/boot/vmlinuz-$release"
    echo "KERNEL_MODULES=$dir/$modules"
  } > "$envf.tmp"
  mv "$envf.tmp" "$envf"
  say "kernel $series ready: $release"
}

series=("$@")
if [ "${#series[@]}" -eq 0 ]; then series=(6.12 6.1); fi
for s in "${series[@]}"; do prepare_kernel "$s"; done
