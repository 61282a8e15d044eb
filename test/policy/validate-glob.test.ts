// matchPatterns globs: what is valid, and what a valid glob matches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { globMatcher, globProblem, globToRegExp } from '../../policy/glob.ts';

function matches(pattern: string, path: string): boolean {
  const m = globMatcher(pattern);
  assert.ok(m.ok, `${pattern} is valid`);
  return m.value(path);
}

test('valid globs', () => {
  for (const p of ['/etc/*hado?', '/**/*.conf', '/tmp/*', '/usr/bin/apt*', '/a/[a-c]x', '/a/[!a-c]x', '/a/[^0-9]', '/a/{b,c*}/d', '/a/{b,{c,d}}', '/a/\\*', '/a/[\\]]', '/x(y)+.$^|', '/a b/c,d', '/'])
    assert.equal(globProblem(p), null, p);
});

test('invalid globs say why', () => {
  const cases: [string, RegExp][] = [
    ['', /empty pattern/],
    ['etc/passwd', /absolute path/],
    ['*/passwd', /absolute path/],
    ['/a/[bc', /'\[' at character 4 is never closed/],
    ['/a/[]', /empty character set/],
    ['/a/[!]', /empty character set/],
    ['/a/[z-a]', /range 'z-a' is reversed/],
    ['/a/{b,c', /'\{' is never closed/],
    ['/a/b}', /'}' at character 5 has no matching '\{'/],
    ['/a/b\\', /lone backslash/],
    ['/a/\0', /NUL/],
    ['/' + '{'.repeat(9) + '}'.repeat(9), /nested deeper/],
    ['/' + 'a'.repeat(5000), /longer than/],
  ];
  for (const [p, why] of cases) {
    assert.match(globProblem(p) ?? 'valid', why, JSON.stringify(p));
    assert.equal(globToRegExp(p).ok, false);
    assert.equal(globMatcher(p).ok, false);
  }
});

test('what globs match', () => {
  assert.ok(matches('/etc/*hado?', '/etc/shadow'));
  assert.ok(matches('/etc/*hado?', '/etc/gshadow'));
  assert.ok(!matches('/etc/*hado?', '/etc/sub/shadow'), '* stops at /');
  assert.ok(!matches('/etc/*hado?', '/etc/shado/'), '? never matches /');
  assert.ok(matches('/**/*.conf', '/etc/nginx/nginx.conf'));
  assert.ok(!matches('/**/*.conf', '/etc/nginx/nginx.confx'));
  assert.ok(matches('/tmp/*', '/tmp/'));
  assert.ok(!matches('/tmp/*', '/tmp'));
  assert.ok(matches('/a/[a-c]x', '/a/bx'));
  assert.ok(!matches('/a/[a-c]x', '/a/dx'));
  assert.ok(matches('/a/[!a-c]x', '/a/dx'));
  assert.ok(!matches('/a/[!a-c]x', '/a//x'), 'a negated set never matches /');
  assert.ok(!matches('/a[/]b', '/a/b'), 'a set never matches /');
  assert.ok(matches('/a/{b,c*}/d', '/a/b/d'));
  assert.ok(matches('/a/{b,c*}/d', '/a/cat/d'));
  assert.ok(!matches('/a/{b,c*}/d', '/a/x/d'));
  assert.ok(matches('/a/\\*', '/a/*'));
  assert.ok(!matches('/a/\\*', '/a/b'));
  assert.ok(matches('/x(y)+.$^|', '/x(y)+.$^|'), 'RegExp syntax is literal');
  assert.ok(!matches('/a.b', '/aXb'));
  assert.ok(matches('/a b/c,d', '/a b/c,d'), 'a comma outside braces is literal');
  assert.ok(matches('/caf?', '/café'), '? is one character, not one UTF-16 unit');
  assert.ok(matches('/x/?', '/x/😀'));
});

test('property: a glob without wildcards matches exactly its own text', () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9._ ()+$^|-]{1,8}$/);
  fc.assert(fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.string({ maxLength: 10 }), (segs, other) => {
    const path = '/' + segs.join('/');
    assert.ok(matches(path, path));
    if (other !== path) assert.equal(matches(path, other), false);
  }), { numRuns: 200, seed: 3 });
});
