#!/bin/busybox sh
# Stage 1, the initramfs's /init (busybox, built into the initramfs by vm/harness/initramfs.ts):
# loads the modules listed in /modules/order, mounts the host's root (shared read-only over
# virtio-9p, tag "hostroot") and, over its node_modules, the read-only ext4 image on a virtio disk
# (ag.nodemodules= the folder, ag.nodemodulesdev= the disk), mounts proc, sys, dev, tmpfs on /tmp
# /run /root, the containers' root image read-only at /run/ag-vm/rootfs when asked (ag.ctrootfs= the
# disk), securityfs, bpffs and cgroup2 beneath it, then switch_root's into it (the process root becomes the share itself) and runs
# stage 2: `/bin/sh <ag.stage2> <ag.job>`, both given on the kernel command line. On any failure it
# says what failed on the console and powers off (the host reports the console's tail).
bb=/bin/busybox
fail() {
  echo "ag-init: FAILED: $*"
  echo "ag-init: block devices: $($bb ls /sys/block /newroot/sys/block 2>/dev/null | $bb tr '\n' ' ')"
  $bb sleep 1
  $bb poweroff -f
}
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev

stage2=
job=
keep=
nodemodules=
nodemodulesdev=vda
ctrootfs=
for arg in $($bb cat /proc/cmdline); do
  case "$arg" in
    ag.stage2=*) stage2="${arg#ag.stage2=}" ;;
    ag.job=*) job="${arg#ag.job=}" ;;
    ag.nodemodules=*) nodemodules="${arg#ag.nodemodules=}" ;;
    ag.nodemodulesdev=*) nodemodulesdev="${arg#ag.nodemodulesdev=}" ;;
    ag.ctrootfs=*) ctrootfs="${arg#ag.ctrootfs=}" ;;
    ag.keep=*) keep="${arg#ag.keep=}" ;;
  esac
done
[ -n "$stage2" ] && [ -n "$job" ] || fail "kernel command line lacks ag.stage2= or ag.job="

if [ -f /modules/order ]; then
  for m in $($bb cat /modules/order); do
    $bb insmod "/modules/$m.ko" || fail "insmod $m"
  done
fi

# 9p over virtio: the device may take a moment to appear after the driver loads.
i=0
until $bb mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /newroot 2>/dev/null; do
  i=$((i + 1))
  [ "$i" -lt 50 ] || fail "cannot mount the 9p share hostroot"
  $bb usleep 100000
done

$bb mount --move /dev /newroot/dev || fail "move /dev"
$bb mount --move /proc /newroot/proc || fail "move /proc"
$bb mount --move /sys /newroot/sys || fail "move /sys"
# The project (ag.keep=, where the host runs from) stays visible even when it lives under one
# of the folders that get a tmpfs (a clone in /tmp, say): bind it aside, put it back on top.
for d in /tmp /run /root; do
  case "$keep" in
    "$d"/*)
      $bb mkdir -p /keep
      $bb mount --bind "/newroot$keep" /keep || fail "bind $keep aside"
      $bb mount -t tmpfs -o mode=1777 tmpfs "/newroot$d" || fail "tmpfs on $d"
      $bb mkdir -p "/newroot$keep"
      $bb mount --move /keep "/newroot$keep" || fail "put $keep back over the tmpfs on $d"
      ;;
    *) $bb mount -t tmpfs -o mode=1777 tmpfs "/newroot$d" || fail "tmpfs on $d" ;;
  esac
done
$bb chmod 0700 /newroot/root
# node_modules from the read-only ext4 image on its virtio disk (see modules-image.ts).
waitdisk() {
  i=0
  while [ ! -b "/newroot/dev/$1" ] && [ "$i" -lt 50 ]; do i=$((i + 1)); $bb usleep 100000; done
}
if [ -n "$nodemodules" ]; then
  waitdisk "$nodemodulesdev"
  $bb mount -t ext4 -o ro,noload "/newroot/dev/$nodemodulesdev" "/newroot$nodemodules" || fail "mount the node_modules image on $nodemodules"
fi
# The containers' Debian root (ag.ctrootfs=, see rootfs.ts), read-only where vm/guest/container.ts looks.
if [ -n "$ctrootfs" ]; then
  waitdisk "$ctrootfs"
  $bb mkdir -p /newroot/run/ag-vm/rootfs
  $bb mount -t ext4 -o ro,noload "/newroot/dev/$ctrootfs" /newroot/run/ag-vm/rootfs || fail "mount the containers' root image"
fi

$bb mkdir -p /newroot/dev/pts /newroot/dev/shm
$bb mount -t devpts devpts /newroot/dev/pts
$bb mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
$bb mount -t securityfs securityfs /newroot/sys/kernel/security || fail "securityfs"
$bb mount -t bpf bpf /newroot/sys/fs/bpf || fail "bpffs"
$bb mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup || fail "cgroup2"
$bb ip link set lo up
$bb hostname armorgate-vm

read -r up _ < /newroot/proc/uptime; echo "ag-init: switching root at $up s"
exec $bb switch_root /newroot /bin/sh "$stage2" "$job"
