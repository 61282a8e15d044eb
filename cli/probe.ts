// `armorgate probe [--json]`: can this node enforce? Exit 0 when it can, 1 otherwise.
import { Command } from 'commander';

export function command(): Command {
  return new Command('probe')
    .description('check that this node can enforce with BPF-LSM (loads and attaches a tiny LSM program); exit 0 when it can')
    .option('--json', 'print the report as JSON')
    .option('--cgroup-root <dir>', 'cgroup v2 mount point', '/sys/fs/cgroup')
    .action(async (opts: { json?: boolean; cgroupRoot: string }) => {
      const { assess, formatReport, gatherFacts } = await import('../enforcer/probe.ts');
      const report = assess(await gatherFacts({ cgroupRoot: opts.cgroupRoot }));
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      process.exitCode = report.canEnforce ? 0 : 1;
    });
}
