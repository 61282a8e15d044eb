// One benchmark boot that survives a crash of the emulated machine: `runSuite`, booted again (at
// most `attempts` boots in all) when guestCrash says the guest crashed rather than a scenario
// failed, as registerVmTests does for the tests (a guest kernel oops under multi-threaded TCG
// killed a `bench:workload` run once). A benchmark's figures come through onEvent: each boot's
// are held back and only the last boot's are handed on, so a crashed boot's half set never mixes
// with the next one's. Crashes are told on onProgress.
import { guestCrash, runSuite, type RunSuiteOptions, type SuiteRun } from './index.ts';

export async function runBench(o: RunSuiteOptions, attempts = 3, run: (o: RunSuiteOptions) => Promise<SuiteRun> = runSuite): Promise<SuiteRun> {
  let last: SuiteRun | null = null;
  let events: [string, unknown][] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    events = [];
    last = await run({ ...o, onEvent: (name, data) => { events.push([name, data]); } });
    const crash = guestCrash(last);
    if (crash === null) break;
    if (attempt < attempts) o.onProgress?.(`the guest crashed (${crash}): its figures are dropped, boot ${attempt + 1} of at most ${attempts}`);
  }
  for (const [name, data] of events) o.onEvent?.(name, data);
  return last!;
}
