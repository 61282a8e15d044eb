#!/usr/bin/env node
// The `armorgate` command. Plain JavaScript so that any node can start it: when the
// running node is older than 24 it re-executes itself under the project's Node 24
// (installed into .tools/node by scripts/setup.sh), which runs the TypeScript sources.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MIN_MAJOR = 24;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const major = Number(process.versions.node.split('.')[0]);

if (major < MIN_MAJOR) {
  const local = join(root, '.tools', 'node', 'bin', 'node');
  if (!existsSync(local)) {
    process.stderr.write(`armorgate: needs Node ${MIN_MAJOR}+ (this is ${process.version}); run scripts/setup.sh to install it into .tools/node\n`);
    process.exit(2);
  }
  const r = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`armorgate: cannot start ${local}: ${r.error.message}\n`);
    process.exit(2);
  }
  process.exit(r.status ?? (r.signal ? 128 : 1));
} else {
  const { main } = await import('../cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}
