#!/bin/sh
# Stage 2, PID 1 after switch_root (the host's own /bin/sh, read from the share): runs the scenario
# runner with the project's node, then powers the guest off whatever happened. If this script ever
# exits, the kernel panics and, with panic=-1 and qemu's -no-reboot, the VM ends all the same.
job="$1"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
# node's module compile cache (on the guest's /tmp tmpfs): every node process of the boot after the
# first that loads a module skips compiling it again. Measured under TCG: `armorgate --version`
# 3.2-3.8 s without, 1.7 s with; `armorgate probe` 4.4-5.4 s without, 3.3-3.9 s with.
export NODE_COMPILE_CACHE=/tmp/ag-node-compile-cache
# job.env, written by the host beside job.json, sets AG_ROOT, AG_NODE and AG_KERNEL_TREE.
. "${job%/*}/job.env"
root="$AG_ROOT"
echo "ag-stage2: starting the runner at $(cut -d' ' -f1 /proc/uptime) s"
node="$AG_NODE"
cd "$root" || echo "ag-stage2: cannot cd to $root"
# the V8 flags bin/armorgate.js runs with: V8 13's JIT page registry aborts now and then under
# wasm tier-up (the CommonJS lexer) and with PKU, which the guest CPU has (see bin/armorgate.js)
"$node" --liftoff-only --no-wasm-dynamic-tiering --no-wasm-tier-up --no-memory-protection-keys "$root/vm/guest/runner.ts" "$job"
echo "ag-stage2: runner exited with status $?"
sync
/bin/busybox poweroff -f
