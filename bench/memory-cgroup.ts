// A memory cgroup for one benchmarked process: made beside the benchmark's own (cgroup v2, or the
// v1 memory hierarchy), limited, the process moved in right after it starts; afterwards its peak
// and how many times the kernel's OOM killer ran in it. Needs root (a writable cgroup tree).
import fs from 'node:fs';
import path from 'node:path';

export interface MemoryCgroup {
  dir: string;
  /** moves a process in */
  add(pid: number): void;
  /** the highest usage seen, in MiB, and the OOM kills so far */
  report(): { peakMiB: number; oomKills: number };
  remove(): void;
}

/** `limit` in bytes; `name` becomes the cgroup's directory name. */
export function memoryCgroup(limit: number, name: string, self = fs.readFileSync('/proc/self/cgroup', 'utf8')): MemoryCgroup {
  const lines = self.split('\n').filter(Boolean).map((l) => l.split(':'));
  const v1 = lines.find((l) => l[1]!.split(',').includes('memory'));
  const v2 = lines.find((l) => l[0] === '0' && l[1] === '');
  let dir: string;
  let v: 1 | 2;
  if (v1 !== undefined && fs.existsSync('/sys/fs/cgroup/memory')) { dir = path.join('/sys/fs/cgroup/memory', v1[2]!, name); v = 1; }
  else if (v2 !== undefined && fs.existsSync('/sys/fs/cgroup/cgroup.controllers')) { dir = path.join('/sys/fs/cgroup', v2[2]!, name); v = 2; }
  else throw new Error('no memory cgroup to make one beside (neither the v1 memory hierarchy nor cgroup v2)');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, v === 1 ? 'memory.limit_in_bytes' : 'memory.max'), String(limit));
  const read = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8');
  return {
    dir,
    add: (pid) => { fs.writeFileSync(path.join(dir, 'cgroup.procs'), String(pid)); },
    report: () => {
      const peak = Number(read(v === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak').trim());
      const events = read(v === 1 ? 'memory.oom_control' : 'memory.events');
      return { peakMiB: Math.round(peak / 2 ** 20), oomKills: Number(/oom_kill (\d+)/.exec(events)?.[1] ?? 0) };
    },
    remove: () => { try { fs.rmdirSync(dir); } catch { /* a process still in it: left for the next run to see */ } },
  };
}
