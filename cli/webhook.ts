// Placeholder until its owner lands it: `armorgate webhook` reports that it is not built yet.
import { Command } from 'commander';

export function command(): Command {
  return new Command('webhook').description('not built yet').allowUnknownOption().action(() => {
    process.stderr.write('armorgate webhook: not built yet\n');
    process.exitCode = 2;
  });
}
