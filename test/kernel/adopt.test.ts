// A restarted enforcer adopts the pinned links only when they are a complete set of this very
// object's programs in this attach mode, with every map pinned beside them (enforcer/kernel/loader.ts).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PINNED_MAPS, adoptableEpoch, objectStamp, programsFor } from '../../enforcer/kernel/loader.ts';

function pins(maps: readonly string[], links: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'ag-adopt-'));
  mkdirSync(join(dir, 'links'));
  for (const m of maps) writeFileSync(join(dir, m), '');
  for (const l of links) writeFileSync(join(dir, 'links', l), '');
  return dir;
}

const cgroupProgs = (() => { const p = programsFor('cgroup'); return [...p.cgroup, ...p.lsm, ...p.tracepoint]; })();

test('objectStamp: content and mode, stable, null for a missing object', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-stamp-'));
  try {
    const a = join(dir, 'a.o');
    writeFileSync(a, 'one');
    const s1 = objectStamp(a, 'cgroup');
    assert.match(s1 ?? '', /^[0-9a-f]{16}_cgroup$/);
    assert.equal(objectStamp(a, 'cgroup'), s1);
    assert.notEqual(objectStamp(a, 'global'), s1);
    writeFileSync(a, 'two');
    assert.notEqual(objectStamp(a, 'cgroup'), s1, 'a rebuilt object is another stamp');
    assert.equal(objectStamp(join(dir, 'missing.o'), 'cgroup'), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('adoptableEpoch: the newest complete epoch of the same stamp', () => {
  const stamp = '0123456789abcdef_cgroup';
  const old = `${stamp}_aaa-1`;
  const newer = `${stamp}_bbb-2`;
  const dir = pins(PINNED_MAPS, [...cgroupProgs.map((p) => `${old}-${p}`), ...cgroupProgs.map((p) => `${newer}-${p}`)]);
  try {
    assert.equal(adoptableEpoch(dir, stamp, 'cgroup'), newer);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('adoptableEpoch: never an incomplete set, another object, another mode, or missing maps', () => {
  const stamp = '0123456789abcdef_cgroup';
  const epoch = `${stamp}_aaa-1`;
  const cases: [string, string[], string[], string][] = [
    ['one program missing (a crash between two attaches)', [...PINNED_MAPS], cgroupProgs.slice(1).map((p) => `${epoch}-${p}`), stamp],
    ['links of another object', [...PINNED_MAPS], cgroupProgs.map((p) => `fedcba9876543210_cgroup_aaa-1-${p}`), stamp],
    ['links of the other mode', [...PINNED_MAPS], cgroupProgs.map((p) => `0123456789abcdef_global_aaa-1-${p}`), stamp],
    ['a map not pinned', PINNED_MAPS.slice(1), cgroupProgs.map((p) => `${epoch}-${p}`), stamp],
    ['links from before stamps (time-pid epochs)', [...PINNED_MAPS], cgroupProgs.map((p) => `m3x1-42-${p}`), stamp],
    ['nothing pinned', [], [], stamp],
  ];
  for (const [what, maps, links, s] of cases) {
    const dir = pins(maps, links);
    try {
      assert.equal(adoptableEpoch(dir, s, 'cgroup'), null, what);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.equal(adoptableEpoch('/nonexistent/armorgate', stamp, 'cgroup'), null);
});
