// Placeholder until its owner lands it: `armorgate probe` reports that it is not built yet.
import { Command } from 'commander';

export function command(): Command {
  return new Command('probe').description('not built yet').allowUnknownOption().action(() => {
    process.stderr.write('armorgate probe: not built yet\n');
    process.exitCode = 2;
  });
}
