// Placeholder until its owner lands it: `armorgate enforcer` reports that it is not built yet.
import { Command } from 'commander';

export function command(): Command {
  return new Command('enforcer').description('not built yet').allowUnknownOption().action(() => {
    process.stderr.write('armorgate enforcer: not built yet\n');
    process.exitCode = 2;
  });
}
