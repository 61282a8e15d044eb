// The `armorgate` command: one entry, one subcommand per module. Each module exports
// `command()` returning a commander Command whose action sets process.exitCode; heavy
// dependencies are imported inside the actions so that `validate` starts fast.
import { Command, CommanderError } from 'commander';
import { version } from '../telemetry/version.ts';

const SUBCOMMANDS = ['validate', 'profile', 'webhook', 'enforcer', 'probe'] as const;

export async function main(argv: string[]): Promise<number> {
  const program = new Command('armorgate')
    .description('Runtime security for Kubernetes pods: KubeArmor policies enforced with BPF-LSM')
    .version(version(), '-V, --version', 'print the version and exit')
    .exitOverride()
    .showHelpAfterError();
  for (const name of SUBCOMMANDS) {
    const mod = (await import(`./${name}.ts`)) as { command: () => Command };
    program.addCommand(mod.command().exitOverride());
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version are successes; every other parse problem is a usage error (exit 2)
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      return 2;
    }
    process.stderr.write(`armorgate: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}
