// Guest suite: every cell of docs/selection.md's readOnly/ownerOnly table (test/support/owner-table.ts)
// in a real container, on an exact path, a directory, a recursive directory and a pattern: read and append,
// as the owner (uid 1000), as root (not the owner) and as another user (1001). Block and Audit
// rules share one pod; Allow rules another, with the file posture audit: what a rule allows passes
// without an alert, what none allows passes with the posture's alert (under a block posture runc
// itself could not start the container's processes). Control: the same commands in a container
// outside every pod all succeed.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ONE_BOOT_PER_KERNEL_CROSSED, scenario, type Container, type ScenarioContext } from '../../../vm/guest/scenario.ts';
import type { Action, Target } from '../../../policy/types.ts';
import { OWNER_TABLE, flagsOf, type Cell, type Row } from '../../support/owner-table.ts';
import { loadPod, profile, rule, type LoadedPod } from '../../../vm/guest/kit/kernel.ts';

const HOME = '/home/user1';
const USERS = [{ name: 'owner', user: '1000:1000', uid: 1000 }, { name: 'root', user: '0:0', uid: 0 }, { name: 'other', user: '1001:1001', uid: 1001 }] as const;
const SHAPES = ['path', 'dir', 'rec', 'pat'] as const;
type Shape = typeof SHAPES[number];

interface FileCell { row: Row; shape: Shape; file: string; target: Target }

function cellsOf(actions: readonly Action[]): FileCell[] {
  const out: FileCell[] = [];
  for (const row of OWNER_TABLE) {
    if (!actions.includes(row.action)) continue;
    for (const shape of SHAPES) {
      const base = `${HOME}/${row.action}-${row.flags}-${shape}`.toLowerCase();
      if (shape === 'path') out.push({ row, shape, file: base, target: { type: 'path', path: base } });
      if (shape === 'dir') out.push({ row, shape, file: `${base}/f`, target: { type: 'directory', dir: `${base}/`, recursive: false } });
      if (shape === 'rec') out.push({ row, shape, file: `${base}/sub/f`, target: { type: 'directory', dir: `${base}/`, recursive: true } });
      if (shape === 'pat') out.push({ row, shape, file: `${base}/d/f.key`, target: { type: 'pattern', pattern: `${base}/*/*.key` } });
    }
  }
  return out;
}

/** The files, owned by uid 1000 and writable by all (so only the rules decide), made from the guest's side. */
function layOut(c: Container, cells: readonly FileCell[]): void {
  for (const cell of cells) {
    const host = c.rootfs + cell.file;
    mkdirSync(dirname(host), { recursive: true });
    writeFileSync(host, 'secret\n');
    chmodSync(host, 0o666);
    for (let d = cell.file; d !== '/home'; d = dirname(d)) chownSync(c.rootfs + d, 1000, 1000);
  }
}

/** One exec per user: `cat` each file (read) and append to it from a subshell (change). */
async function attempt(c: Container, user: string, cells: readonly FileCell[]): Promise<Map<string, { read: number; write: number }>> {
  const script = cells.map((x) => `cat '${x.file}' >/dev/null 2>&1; r=$?; (echo x >> '${x.file}') 2>/dev/null; echo "${x.file} $r $?"`).join('\n');
  const res = await c.exec(['/bin/sh', '-c', script], { user, timeoutMs: 60_000 });
  const out = new Map<string, { read: number; write: number }>();
  for (const line of res.stdout.trim().split('\n')) {
    const [f, r, w] = line.split(' ');
    if (f) out.set(f, { read: Number(r), write: Number(w) });
  }
  assert.equal(out.size, cells.length, `as ${user}: ${res.stdout}\n${res.stderr}`);
  return out;
}

function expected(row: Row, owner: boolean, write: boolean): Cell {
  return owner ? (write ? row.ownerWrite : row.ownerRead) : (write ? row.otherWrite : row.otherRead);
}

async function runCells(ctx: ScenarioContext, actions: readonly Action[]): Promise<void> {
  const filePosture = 'audit';
  const cells = cellsOf(actions);
  const rules = cells.map((x) => rule(x.row.action, x.target, { ...flagsOf(x.row.flags), policies: [`test/${x.row.action}-${x.row.flags}-${x.shape}`.toLowerCase()] }));
  const pod: LoadedPod = await loadPod(ctx, profile({ file: rules }, { file: filePosture, process: 'audit', network: 'audit', capabilities: 'audit' }));
  const c = await ctx.container({ pod: { uid: pod.uid } });
  const ctl = await ctx.container({});
  layOut(c, cells);
  layOut(ctl, cells);
  const enforced = ctx.attachMode === 'global' || c.cgroupPath.startsWith('/kubepods.slice/');
  assert.ok(enforced, 'systemd-driver containers are under the programs in both modes');
  const wrong: string[] = [];
  for (const u of USERS) {
    const got = await attempt(c, u.user, cells);
    const control = await attempt(ctl, u.user, cells);
    for (const x of cells) {
      for (const write of [false, true]) {
        const want = expected(x.row, u.name === 'owner', write);
        const code = write ? got.get(x.file)!.write : got.get(x.file)!.read;
        const denied = want === 'block';
        if ((code !== 0) !== denied) wrong.push(`${x.row.action} ${x.row.flags} ${x.shape} as ${u.name} ${write ? 'write' : 'read'}: exit ${code}, want ${want}`);
        const ctlCode = write ? control.get(x.file)!.write : control.get(x.file)!.read;
        if (ctlCode !== 0) wrong.push(`control container: ${x.file} as ${u.name} ${write ? 'write' : 'read'} exit ${ctlCode}`);
      }
    }
  }
  // Audit cells: an Audit alert of the rule for each access the table audits, none for the others;
  // Allow cells: the posture's alert (no rule) for each access no rule allows, none for the others
  await new Promise((r) => setTimeout(r, 500));
  for (const x of cells.filter((y) => y.row.action !== 'Block')) {
    for (const u of USERS) {
      for (const write of [false, true]) {
        const want = expected(x.row, u.name === 'owner', write);
        const exe = write ? '/usr/bin/dash' : '/usr/bin/cat';
        const byRule = x.row.action === 'Audit';
        const seen = pod.mine().some((e) => e.target === x.file && e.uid === u.uid && e.exe === exe && e.action === 'Audit' && !e.denied && (e.rule !== null) === byRule);
        const alerted = want === (byRule ? 'audit' : 'posture');
        if (seen !== alerted) wrong.push(`${x.row.action} ${x.row.flags} ${x.shape} as ${u.name} ${write ? 'write' : 'read'}: ${byRule ? 'rule' : 'posture'} alert ${seen ? 'seen' : 'missing'}, want ${want}`);
      }
    }
  }
  ctx.emit('owner-cells', { actions, cells: cells.length * USERS.length * 2, wrong: wrong.length });
  assert.deepEqual(wrong, []);
}

// The cells are what the programs decide (qualifies(), the same code in both attach modes): each
// kernel once, on the boots the seed scenarios do not take (test/vm/scenarios/kernel-seed.ts).
const OWNER_BOOTS = ONE_BOOT_PER_KERNEL_CROSSED;

scenario('owner semantics: Block and Audit readOnly/ownerOnly cells on paths, directories, recursive directories, patterns, as the owner, root and another user', (ctx) =>
  runCells(ctx, ['Block', 'Audit']), { timeoutMs: 240_000, on: OWNER_BOOTS });

scenario('owner semantics: Allow readOnly/ownerOnly cells (allow-list, file posture audit) on paths, directories, recursive directories, patterns, as the owner, root and another user', (ctx) =>
  runCells(ctx, ['Allow']), { timeoutMs: 240_000, on: OWNER_BOOTS });

// "owner" is the fsuid, as AppArmor has it: a root process that set its effective uid (and so its
// fsuid) to the file's owner is the owner, though its real uid is still 0.
scenario('owner semantics: the owner is the acting fsuid (real uid 0, effective uid 1000)', async (ctx) => {
  const file = `${HOME}/fsuid`;
  const pod = await loadPod(ctx, profile({ file: [rule('Block', { type: 'path', path: file }, { ownerOnly: true })] }, { file: 'audit', process: 'audit', network: 'audit', capabilities: 'audit' }));
  const c = await ctx.container({ pod: { uid: pod.uid } });
  mkdirSync(`${c.rootfs}${HOME}`, { recursive: true });
  writeFileSync(c.rootfs + file, 'x\n', { mode: 0o644 });
  chownSync(c.rootfs + file, 1000, 1000);
  chownSync(c.rootfs + HOME, 1000, 1000);
  const open = `open(my $f, "<", "${file}") or exit 1; exit 0`;
  const asOwner = await c.exec(['perl', '-e', `$> = 1000; die "euid" unless $> == 1000 && $< == 0; ${open}`]);
  assert.equal(asOwner.code, 0, `fsuid 1000, real uid 0: the owner reads: ${asOwner.stderr}`);
  const asRoot = await c.exec(['perl', '-e', open]);
  assert.equal(asRoot.code, 1, 'root (fsuid 0) is not the owner: blocked');
  const e = await pod.waitEvent((x) => x.target === file && x.denied);
  assert.equal(e.uid, 0);
}, { timeoutMs: 150_000, on: OWNER_BOOTS });
