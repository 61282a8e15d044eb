// Placeholder until its owner lands it: `armorgate profile` reports that it is not built yet.
import { Command } from 'commander';

export function command(): Command {
  return new Command('profile').description('not built yet').allowUnknownOption().action(() => {
    process.stderr.write('armorgate profile: not built yet\n');
    process.exitCode = 2;
  });
}
