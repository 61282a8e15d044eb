// Types of bin/v8-flags.js (plain JavaScript so that bin/armorgate.js runs on any node).
export declare const COMMON_V8_FLAGS: readonly string[];
export declare const WEBHOOK_V8_FLAGS: readonly string[];
/** The flags for a command line (its first word is the subcommand). */
export declare function v8FlagsFor(args: readonly string[]): readonly string[];
