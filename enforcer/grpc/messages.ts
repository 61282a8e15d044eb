// The enforcer's own log records (pino JSON lines, info and above) as KubeArmor's `Message`
// stream (WatchMessages): a writable stream the logger writes to beside stderr, forwarding each
// record's level and msg to whoever listens (the gRPC server, once started). Never throws.
import { Writable } from 'node:stream';
import { levelName } from './shapes.ts';

/** pino's level numbers by name */
const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

export type MessageSink = (level: string, message: string, time: Date) => void;

export class MessageTap extends Writable {
  #sink: MessageSink | null = null;

  constructor() {
    super({ decodeStrings: false });
  }

  listen(sink: MessageSink | null): void { this.#sink = sink; }

  override _write(chunk: unknown, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    const sink = this.#sink;
    if (sink !== null) {
      for (const line of String(chunk).split('\n')) {
        if (line.trim() === '') continue;
        try {
          // the daemons' log shape (telemetry/log.ts): level names and ISO time; pino's numbers too
          const r = JSON.parse(line) as { level?: number | string; msg?: string; time?: number | string };
          const rest = { ...r } as Record<string, unknown>;
          for (const k of ['level', 'msg', 'time', 'pid', 'hostname', 'name']) delete rest[k];
          const detail = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`;
          const level = typeof r.level === 'string' ? (LEVELS[r.level] ?? 30) : r.level ?? 30;
          const time = r.time === undefined ? new Date() : new Date(r.time);
          sink(levelName(level), `${r.msg ?? ''}${detail}`, Number.isNaN(time.getTime()) ? new Date() : time);
        } catch { /* not a record */ }
      }
    }
    done();
  }
}
