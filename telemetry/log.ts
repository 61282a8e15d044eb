// One log shape for both daemons: pino JSON lines on stderr with the level's name, an ISO 8601
// time, the daemon's name, and errors (under `err`, or `error` when an Error) with their stack.
// The level comes from --log-level, else LOG_LEVEL, else info.
import { pino, type DestinationStream, type Logger } from 'pino';
import { err, ok, type Result } from '../policy/types.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The level from a flag's value, else LOG_LEVEL, else `info`; an unknown name is an error naming
 *  where it came from and the choices. */
export function logLevel(flag: string | undefined, env: Record<string, string | undefined> = process.env): Result<LogLevel> {
  const from = flag !== undefined ? '--log-level' : env.LOG_LEVEL !== undefined && env.LOG_LEVEL !== '' ? 'LOG_LEVEL' : null;
  if (from === null) return ok('info');
  const v = (flag ?? env.LOG_LEVEL ?? '').trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(v)
    ? ok(v as LogLevel)
    : err('E_LOG_LEVEL', `${from}: unknown level ${JSON.stringify(flag ?? env.LOG_LEVEL)}; one of ${LOG_LEVELS.join(', ')}`);
}

const errorSerializer = (v: unknown): unknown => (v instanceof Error ? pino.stdSerializers.err(v) : v);

/** The daemons' logger. `destination`: default stderr, written synchronously (a crash loses no line). */
export function makeLogger(o: { name: string; level?: LogLevel; destination?: DestinationStream }): Logger {
  return pino({
    name: o.name,
    level: o.level ?? 'info',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: errorSerializer, error: errorSerializer },
  }, o.destination ?? pino.destination({ fd: 2, sync: true }));
}
