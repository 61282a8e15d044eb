#!/usr/bin/env node
// The `armorgate` command. Plain JavaScript so that any node can start it: when the
// running node is older than 24 it re-executes itself under the project's Node 24
// (installed into .tools/node by scripts/setup.sh), which runs the TypeScript sources.
//
// It always runs with V8's --no-memory-protection-keys. Where the CPU has memory protection
// keys (PKU: most x86 servers, OCI's shapes among them), V8 in Node 18–24 write-protects JIT
// code with them, and that code aborts now and then on a CHECK in its JIT page registry
// ("Check failed: it->second.Size() > offset", "jit_page.has_value()"). The qemu guests of
// the kernel tests have PKU (this machine does not): the enforcer died of it there, at start.
// Node does not take V8 flags from NODE_OPTIONS, so the process replaces itself (execve: same
// PID, signals reach the daemon) with the flag on its command line.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_MAJOR = 24;
const V8_FLAGS = ['--no-memory-protection-keys'];
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
const self = fileURLToPath(import.meta.url);

function cpuHasPku() {
  try {
    return /^flags\s*:.*\bpku\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return false;
  }
}

if (major < MIN_MAJOR) {
  const local = join(root, '.tools', 'node', 'bin', 'node');
  if (!existsSync(local)) {
    process.stderr.write(`armorgate: needs Node ${MIN_MAJOR}+ (this is ${process.version}); run scripts/setup.sh to install it into .tools/node\n`);
    process.exit(2);
  }
  const r = spawnSync(local, [...V8_FLAGS, self, ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`armorgate: cannot start ${local}: ${r.error.message}\n`);
    process.exit(2);
  }
  process.exit(r.status ?? (r.signal ? 128 : 1));
} else if (typeof process.execve === 'function' && !V8_FLAGS.every((f) => process.execArgv.includes(f)) && cpuHasPku()) {
  process.execve(process.execPath, [process.execPath, ...V8_FLAGS, ...process.execArgv, self, ...process.argv.slice(2)], process.env);
} else {
  const { main } = await import('../cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
