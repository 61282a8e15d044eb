// The V8 flags `armorgate` runs with (bin/armorgate.js puts them on its own command line; the
// webhook benchmark starts its webhook with the same). Plain JavaScript, no import.
//
// Every subcommand: --liftoff-only --no-wasm-dynamic-tiering --no-wasm-tier-up and
// --no-memory-protection-keys, against V8 13's JIT page registry aborts (see bin/armorgate.js).
//
// `webhook` also: --initial-old-space-size=128. The daemon's heap settles at ~50 MB (modules,
// policies, compiled profiles) and each request leaves a few bytes behind: V8's first
// old-generation limits sit just above what is live, so under load (~5,000 reviews/s) it ran a
// full mark-compact every 15-30 s, each stopping the webhook for 5-15 ms (--trace-gc), which
// every review then in flight waits out. With the old generation's first limit at 128 MB, the
// first comes when ~80 MB more has been kept: none in a benchmark run (~95 s, ~10,000 reviews/s
// at times); after it V8 sizes its limits from the live heap again. The flag is the process's:
// in a cluster the list/watch worker thread's heap gets the same first limit. Memory stays
// inside manifests/webhook.yaml's 512 Mi limit (its request, 320 Mi, says why).
export const COMMON_V8_FLAGS = Object.freeze(['--liftoff-only', '--no-wasm-dynamic-tiering', '--no-wasm-tier-up', '--no-memory-protection-keys']);
export const WEBHOOK_V8_FLAGS = Object.freeze(['--initial-old-space-size=128']);

/** The flags for a command line (its first word is the subcommand). */
export function v8FlagsFor(args) {
  return args[0] === 'webhook' ? [...COMMON_V8_FLAGS, ...WEBHOOK_V8_FLAGS] : COMMON_V8_FLAGS;
}
