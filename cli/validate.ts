// Placeholder until its owner lands it: `armorgate validate` reports that it is not built yet.
import { Command } from 'commander';

export function command(): Command {
  return new Command('validate').description('not built yet').allowUnknownOption().action(() => {
    process.stderr.write('armorgate validate: not built yet\n');
    process.exitCode = 2;
  });
}
