// `npm run bench:log-path`: the enforcer's userspace cost of one visibility log, stage by stage, on
// this machine (no VM, no kernel): a ring-buffer record copied out of C memory (as the consumer
// of enforcer/kernel/libbpf.ts does, against koffi.decode into a new array), decoded (eventDecoder, against decodeEvent), shaped into
// KubeArmor's container log (visibilityLog), serialised (logLine), and written in batches
// (lineBatch, through fdSink, against a Buffer copy first) to a file. BENCH_LOGS (200000) records per repetition, BENCH_REPS (5)
// repetitions; prints the median µs per log of each stage and of the whole path.
import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { decodeEvent, eventDecoder, LAYOUT, type RawEvent } from '../enforcer/kernel/layout.ts';
import { fdSink } from '../enforcer/fd-sink.ts';
import { RING_SLOT } from '../enforcer/kernel/libbpf.ts';
import { visibilityLog, logLine, visibilityLogLine } from '../enforcer/visibility.ts';
import { formatLabels, type AlertContext } from '../enforcer/alerts.ts';
import { lineBatch } from '../enforcer/line-batch.ts';
import type { KernelEvent } from '../enforcer/kernel/index.ts';

const N = Number(process.env.BENCH_LOGS ?? 200_000);
const REPS = Number(process.env.BENCH_REPS ?? 5);

function record(i: number): Buffer {
  const f = LAYOUT.ag_event.fields;
  const b = Buffer.alloc(LAYOUT.ag_event.size);
  b.writeBigUInt64LE(BigInt(i) * 1000n, f.time_ns);
  b.writeBigUInt64LE(4242n, f.cgroup_id);
  b.writeUInt32LE(3, f.type);
  b.writeUInt32LE(1000 + (i % 7), f.pid);
  b.writeUInt32LE(999, f.ppid);
  b.writeUInt8(1, f.kind);
  b.write('0f6c2a9e-3f0b-4a53-9d1e-5b7c2f1e8a44', f.pod_uid);
  b.write('/usr/bin/python3.11', f.exe);
  b.write('/usr/bin/python3.11', f.source);
  b.write(`/etc/os-release.${i % 13}`, f.target);
  return b;
}

const ctx: AlertContext = {
  clusterName: 'vm-cluster', hostName: 'vm-node', namespace: 'bench-vis-on', podName: 'watched-bench-vis-on',
  labels: { app: 'watched', tier: 'backend' }, containerId: 'c'.repeat(64), containerName: 'app', containerImage: 'debian:12-slim',
  owner: { Ref: 'ReplicaSet', Name: 'watched-5d8f', Namespace: 'bench-vis-on' }, parentProcessName: '/usr/bin/dash',
};
const records = Array.from({ length: 64 }, (_, i) => record(i));
/** A decoded record as the kernel module hands a file open's log to the reconciler. */
const logEvent = (r: RawEvent): KernelEvent => ({ type: 'log', cgroupId: r.cgroupId, podUid: r.podUid, pid: r.pid, ppid: r.ppid, uid: r.uid,
  exe: r.exe, source: r.source, target: r.target, hook: 'file_open', kind: 'file', action: 'Audit', denied: false, errno: 0, rule: null, timeNs: r.timeNs });
const events: KernelEvent[] = records.map((b) => logEvent(decodeEvent(b)!));
// a file, as the enforcer's stdout is under a container runtime (or a FIFO): fdSink writes only to
// those; emptied before each repetition (O_APPEND: the writes follow the truncation)
const outDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ag-log-path-'));
const fd = openSync(join(outDir, 'out.jsonl'), 'a');
const batch = lineBatch(fdSink(fd, { write: () => { throw new Error('the output file refused a write'); }, writableLength: 0 }));
const bufferBatch = lineBatch((t) => { writeSync(fd, Buffer.from(t)); });
const decode = eventDecoder();
const lines = events.map((e) => logLine(visibilityLog(e, ctx, formatLabels(ctx.labels), new Date())));

// a record in C memory, as libbpf hands it to the sample callback
const libc = koffi.load('libc.so.6');
const malloc = libc.func('malloc', 'void *', ['size_t']) as (n: number) => unknown;
const memcpy = libc.func('memcpy', 'void *', ['void *', 'void *', 'size_t']) as (d: unknown, s: unknown, n: number) => unknown;
const cRecord = malloc(records[0]!.length);
memcpy(cRecord, records[0]!, records[0]!.length);
const SIZE = LAYOUT.ag_event.size;
const arena = Buffer.alloc(256 * RING_SLOT);

const stages: Record<string, () => void> = {
  'record copied out: koffi.decode into a new array (before)': () => {
    for (let i = 0; i < N; i++) { const u = koffi.decode(cRecord, 'uint8_t', SIZE) as Uint8Array; Buffer.from(u.buffer, u.byteOffset, u.byteLength); }
  },
  'record copied out: memcpy into the arena\'s slot': () => {
    for (let i = 0; i < N; i++) { const at = (i & 255) * RING_SLOT; memcpy(arena.subarray(at, at + SIZE), cRecord, SIZE); }
  },
  'decodeEvent (every string decoded, before)': () => { for (let i = 0; i < N; i++) decodeEvent(records[i & 63]!); },
  'eventDecoder (the cgroup, pod, program and source of the records before kept)': () => { for (let i = 0; i < N; i++) decode(records[i & 63]!); },
  'visibilityLog + logLine (object, then JSON.stringify)': () => { for (let i = 0; i < N; i++) logLine(visibilityLog(events[i & 63]!, ctx, formatLabels(ctx.labels), new Date())); },
  'visibilityLogLine (the line the enforcer writes)': () => { for (let i = 0; i < N; i++) visibilityLogLine(events[i & 63]!, ctx, formatLabels(ctx.labels), new Date()); },
  'lineBatch to a file: the text copied into a Buffer, then written (as process.stdout does for a file, before)': () => { for (let i = 0; i < N; i++) bufferBatch.write(lines[i & 63]!); bufferBatch.flush(); },
  'lineBatch to a file: fdSink, the string written (enforcer/fd-sink.ts)': () => { for (let i = 0; i < N; i++) batch.write(lines[i & 63]!); batch.flush(); },
  'whole path (copy out, decode, line, batch)': () => {
    for (let i = 0; i < N; i++) {
      const at = (i & 255) * RING_SLOT;
      const slot = arena.subarray(at, at + SIZE);
      memcpy(slot, cRecord, SIZE);
      batch.write(visibilityLogLine(logEvent(decode(slot)!), ctx, formatLabels(ctx.labels), new Date()));
    }
    batch.flush();
  },
};

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
process.stdout.write(`log path: ${N} logs × ${REPS} repetitions, node ${process.version}; µs per log, median (min–max)\n`);
for (const [name, run] of Object.entries(stages)) {
  ftruncateSync(fd, 0);
  run(); // warm-up
  const us: number[] = [];
  for (let r = 0; r < REPS; r++) {
    ftruncateSync(fd, 0);
    const t0 = performance.now();
    run();
    us.push(((performance.now() - t0) * 1000) / N);
  }
  process.stdout.write(`  ${name}: ${median(us).toFixed(2)} (${Math.min(...us).toFixed(2)}–${Math.max(...us).toFixed(2)})\n`);
}
closeSync(fd);
rmSync(outDir, { recursive: true, force: true });
