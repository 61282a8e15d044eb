// The daemon's wiring on the host, where it cannot enforce (its cgroup root is a plain folder, not a
// cgroup2 mount): it runs, reports every pod as not enforced, never claims protection, stops cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { ANN_POLICIES, ANN_POSTURE, ANN_PROFILE, ANN_PROFILE_DIGEST, ANN_PROFILE_SIGNATURE } from '../../policy/annotations.ts';
import { encodeProfile } from '../../policy/profile-codec.ts';
import { formatPosture } from '../../policy/posture.ts';
import { signProfile } from '../../policy/sign.ts';
import type { Profile } from '../../policy/types.ts';
import type { KubeArmorAlert } from '../../enforcer/alerts.ts';
import { runEnforcer } from '../../enforcer/daemon.ts';

const KEY = 'daemon-test-signing-key-0123456789';

function signedPod(name: string, uid: string, key = KEY): object {
  const profile: Profile = {
    version: 1, posture: { file: 'audit', network: 'audit', capabilities: 'audit', process: 'audit' },
    process: [], file: [], network: [], capabilities: [],
  };
  const enc = encodeProfile(profile);
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: 'shop', uid, annotations: {
        [ANN_PROFILE]: enc.annotation, [ANN_PROFILE_DIGEST]: enc.digest,
        [ANN_PROFILE_SIGNATURE]: signProfile(new TextEncoder().encode(key), 'shop', enc.digest),
        [ANN_POSTURE]: formatPosture(profile.posture), [ANN_POLICIES]: '',
      },
    },
    spec: { containers: [{ name: 'c' }] },
  };
}

test('on a node that cannot enforce: runs, reports each pod not enforced, stops on request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-daemon-'));
  try {
    const keyFile = join(dir, 'key');
    writeFileSync(keyFile, `${KEY}\n`);
    const pods = join(dir, 'pods');
    mkdirSync(pods);
    writeFileSync(join(pods, 'a.json'), JSON.stringify(signedPod('a', '11111111-1111-4111-8111-111111111111')));
    writeFileSync(join(pods, 'b.json'), JSON.stringify({ ...signedPod('b', '22222222-2222-4222-8222-222222222222'), metadata: { name: 'b', namespace: 'shop', uid: '22222222-2222-4222-8222-222222222222' } }));
    const cgroupRoot = join(dir, 'cgroup'); // a plain folder: not the unified hierarchy
    mkdirSync(cgroupRoot);
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) logs.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
    const alerts: KubeArmorAlert[] = [];
    let stop!: () => void;
    const stopSignal = new Promise<void>((r) => { stop = r; });
    const running = runEnforcer({
      signingKeyFile: keyFile, cgroupRoot, attachMode: 'auto', nodeName: 'node-1', clusterName: 'test',
      podsDir: pods, pinDir: join(dir, 'pins'), sweepIntervalMs: 60_000,
      alertOut: (line) => alerts.push(JSON.parse(line) as KubeArmorAlert), logger: pino(sink), stopSignal,
    });
    const t0 = Date.now();
    while (!logs.some((l) => l.msg === 'running without enforcement' || l.msg === 'ready')) {
      assert.ok(Date.now() - t0 < 30_000, 'start-up finished');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(!logs.some((l) => l.msg === 'ready'), 'never claims to be ready to enforce');
    const cannot = logs.find((l) => l.msg === 'this node cannot enforce: pods will be reported, not protected');
    assert.ok(cannot);
    assert.match(String(cannot.reason), /CGROUP_NOT_UNIFIED/);
    assert.equal(alerts.length, 2);
    const byPod = new Map(alerts.map((a) => [a.PodName, a]));
    assert.equal(byPod.get('a')?.Type, 'SystemEvent');
    assert.equal(byPod.get('a')?.Data, 'code=E_UNAVAILABLE');
    assert.equal(byPod.get('b')?.Data, 'code=E_NO_PROFILE');
    assert.equal(byPod.get('a')?.HostName, 'node-1');
    stop();
    assert.equal(await running, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreadable or too short signing key is refused at start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-daemon-'));
  try {
    const logs: string[] = [];
    const logger = pino(new Writable({ write(c, _e, cb) { logs.push(String(c)); cb(); } }));
    const base = { cgroupRoot: dir, attachMode: 'auto' as const, nodeName: 'n', clusterName: 'c', podsDir: dir, sweepIntervalMs: 1000, logger };
    assert.equal(await runEnforcer({ ...base, signingKeyFile: join(dir, 'missing') }), 1);
    writeFileSync(join(dir, 'short'), 'abc\n');
    assert.equal(await runEnforcer({ ...base, signingKeyFile: join(dir, 'short') }), 1);
    assert.match(logs.join(''), /cannot read --signing-key-file/);
    assert.match(logs.join(''), /too short/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rotation: profiles signed by the current or the previous key are accepted, others refused; a missing previous-key file is no key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ag-daemon-'));
  try {
    const NEW = 'daemon-test-the-next-signing-key-42';
    writeFileSync(join(dir, 'key'), `${NEW}\n`);
    writeFileSync(join(dir, 'previous'), `${KEY}\n`);
    const pods = join(dir, 'pods');
    mkdirSync(pods);
    writeFileSync(join(pods, 'old.json'), JSON.stringify(signedPod('old', '11111111-1111-4111-8111-111111111111', KEY)));
    writeFileSync(join(pods, 'new.json'), JSON.stringify(signedPod('new', '22222222-2222-4222-8222-222222222222', NEW)));
    writeFileSync(join(pods, 'other.json'), JSON.stringify(signedPod('other', '33333333-3333-4333-8333-333333333333', 'a-third-key-nobody-here-holds-0000')));
    mkdirSync(join(dir, 'cgroup'));
    const run = async (previousSigningKeyFile: string): Promise<Map<string, string>> => {
      const alerts: KubeArmorAlert[] = [];
      const logs: Record<string, unknown>[] = [];
      const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) logs.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
      let stop!: () => void;
      const stopSignal = new Promise<void>((r) => { stop = r; });
      const running = runEnforcer({
        signingKeyFile: join(dir, 'key'), previousSigningKeyFile, cgroupRoot: join(dir, 'cgroup'), attachMode: 'auto', nodeName: 'node-1', clusterName: 'test',
        podsDir: pods, pinDir: join(dir, 'pins'), sweepIntervalMs: 60_000, alertOut: (line) => alerts.push(JSON.parse(line) as KubeArmorAlert), logger: pino(sink), stopSignal,
      });
      const t0 = Date.now();
      while (alerts.length < 3) {
        assert.ok(Date.now() - t0 < 30_000, 'three pods reported');
        await new Promise((r) => setTimeout(r, 20));
      }
      stop();
      assert.equal(await running, 0);
      return new Map(alerts.map((a) => [a.PodName, String(a.Data)]));
    };
    // verified pods reach the kernel side, which this host does not have (E_UNAVAILABLE)
    const both = await run(join(dir, 'previous'));
    assert.equal(both.get('old'), 'code=E_UNAVAILABLE', 'signed by the previous key: verified');
    assert.equal(both.get('new'), 'code=E_UNAVAILABLE', 'signed by the current key: verified');
    assert.equal(both.get('other'), 'code=E_SIGNATURE');
    const currentOnly = await run(join(dir, 'no-such-file'));
    assert.equal(currentOnly.get('old'), 'code=E_SIGNATURE', 'the previous key dropped: its profiles no longer verify');
    assert.equal(currentOnly.get('new'), 'code=E_UNAVAILABLE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
