#!/usr/bin/env node
// The `armorgate` command. Plain JavaScript so that any node can start it: when the
// running node is older than 24 it re-executes itself under the project's Node 24
// (installed into .tools/node by scripts/setup.sh), which runs the TypeScript sources.
//
// It always runs with a few V8 flags, on its command line (Node does not take V8 flags from
// NODE_OPTIONS): when started without them, the process replaces itself (execve: same PID, so
// signals still reach the daemon) with them.
// - --liftoff-only --no-wasm-dynamic-tiering --no-wasm-tier-up: Node parses the CommonJS
//   modules that ES modules import with a WebAssembly lexer, which gets hot at start-up and is
//   tiered up to TurboFan; in V8 13 that tier-up walks the stack through a JIT page registry
//   that aborts now and then ("Check failed: it->second.Size() > offset" in
//   ThreadIsolation::StartOfJitAllocationAt, from Runtime_WasmTriggerTierUp): on a slow or
//   emulated CPU (the kernel tests' qemu guests) it killed the enforcer at start in most runs.
//   Liftoff alone runs the lexer well enough.
// - --no-memory-protection-keys: where the CPU has memory protection keys (PKU: most x86
//   servers, OCI's shapes among them) V8 also write-protects JIT pages with them, the same
//   registry's other crash reports.
// `webhook` also sizes its old generation (bin/v8-flags.js says why).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { v8FlagsFor } from './v8-flags.js';

const MIN_MAJOR = 24;
const V8_FLAGS = v8FlagsFor(process.argv.slice(2));
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);
const self = fileURLToPath(import.meta.url);

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
} else if (typeof process.execve === 'function' && !V8_FLAGS.every((f) => process.execArgv.includes(f))) {
  process.execve(process.execPath, [process.execPath, ...V8_FLAGS, ...process.execArgv.filter((f) => !V8_FLAGS.includes(f)), self, ...process.argv.slice(2)], process.env);
} else {
  const { main } = await import('../cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
