// matchPatterns globs: syntax check and matching on full paths.
//
//   *        any run of characters except '/'
//   **       any run of characters, '/' included
//   ?        one character except '/'
//   [abc] [a-z] [^abc] [!abc]   one character (except '/') from / not from a set
//   {a,b}    any of the alternatives (which may hold globs themselves; nesting allowed)
//   \c       the character c itself
// Every other character stands for itself. A pattern is an absolute path: it starts with '/'.
import type { Result } from './types.ts';
import { err, ok } from './types.ts';

export const MAX_GLOB_LENGTH = 4096;
const MAX_BRACE_DEPTH = 8;

// Characters that must be escaped to stand for themselves in a `u`-flag RegExp.
const REGEXP_SYNTAX = new Set('^$\\.*+?()[]{}|/');
const CLASS_SYNTAX = new Set('\\]^-[');

function literal(c: string): string {
  return REGEXP_SYNTAX.has(c) ? `\\${c}` : c;
}

function classLiteral(c: string): string {
  return CLASS_SYNTAX.has(c) ? `\\${c}` : c;
}

/** Translates a glob to the source of an anchored RegExp, or says what is wrong with it. */
function translate(pattern: string): Result<string> {
  if (pattern.length === 0) return err('E_GLOB', 'empty pattern');
  if (pattern.length > MAX_GLOB_LENGTH) return err('E_GLOB', `pattern longer than ${MAX_GLOB_LENGTH} characters`);
  if (pattern[0] !== '/') return err('E_GLOB', "pattern must be an absolute path starting with '/'");
  if (pattern.includes('\0')) return err('E_GLOB', 'pattern contains a NUL character');
  const chars = Array.from(pattern); // code points, so that '?' and classes see whole characters
  let out = '^';
  let depth = 0;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    switch (c) {
      case '*': {
        let n = 1;
        while (chars[i + 1] === '*') { n++; i++; }
        out += n >= 2 ? '[^]*' : '[^/]*'; // [^]: any character, line terminators too (the kernel walks bytes)
        break;
      }
      case '?':
        out += '[^/]';
        break;
      case '\\': {
        const next = chars[i + 1];
        if (next === undefined) return err('E_GLOB', 'pattern ends with a lone backslash');
        out += literal(next);
        i++;
        break;
      }
      case '[': {
        const cls = translateClass(chars, i);
        if (!cls.ok) return cls;
        out += cls.value.source;
        i = cls.value.end;
        break;
      }
      case '{':
        if (++depth > MAX_BRACE_DEPTH) return err('E_GLOB', `braces nested deeper than ${MAX_BRACE_DEPTH}`);
        out += '(?:';
        break;
      case '}':
        if (depth === 0) return err('E_GLOB', `'}' at character ${i + 1} has no matching '{'`);
        depth--;
        out += ')';
        break;
      case ',':
        out += depth > 0 ? '|' : ',';
        break;
      default:
        out += literal(c);
    }
  }
  if (depth > 0) return err('E_GLOB', "a '{' is never closed");
  return ok(out + '$');
}

/** `[...]` starting at chars[start]: the RegExp class and the index of the closing ']'. */
function translateClass(chars: readonly string[], start: number): Result<{ source: string; end: number }> {
  let i = start + 1;
  let negate = false;
  if (chars[i] === '!' || chars[i] === '^') { negate = true; i++; }
  const items: string[] = [];
  for (;;) {
    const c = chars[i];
    if (c === undefined) return err('E_GLOB', `'[' at character ${start + 1} is never closed`);
    if (c === ']') break;
    let from = c;
    if (c === '\\') {
      const next = chars[i + 1];
      if (next === undefined) return err('E_GLOB', 'pattern ends with a lone backslash');
      from = next;
      i++;
    }
    if (chars[i + 1] === '-' && chars[i + 2] !== undefined && chars[i + 2] !== ']') {
      let to = chars[i + 2] as string;
      let skip = 2;
      if (to === '\\') {
        const next = chars[i + 3];
        if (next === undefined) return err('E_GLOB', 'pattern ends with a lone backslash');
        to = next;
        skip = 3;
      }
      if ((from.codePointAt(0) ?? 0) > (to.codePointAt(0) ?? 0)) return err('E_GLOB', `range '${from}-${to}' is reversed`);
      items.push(`${classLiteral(from)}-${classLiteral(to)}`);
      i += skip + 1;
      continue;
    }
    items.push(classLiteral(from));
    i++;
  }
  if (items.length === 0) return err('E_GLOB', `empty character set at character ${start + 1}`);
  // A set never matches '/', as '?' does not.
  const source = negate ? `[^/${items.join('')}]` : `(?![/])[${items.join('')}]`;
  return ok({ source, end: i });
}

/** Why `pattern` is not a valid glob, or null when it is. */
export function globProblem(pattern: string): string | null {
  const r = translate(pattern);
  return r.ok ? null : r.error.message;
}

/** The anchored RegExp that matches exactly the full paths `pattern` matches. */
export function globToRegExp(pattern: string): Result<RegExp> {
  const r = translate(pattern);
  return r.ok ? ok(new RegExp(r.value, 'u')) : r;
}

/** A predicate on full paths for `pattern`. */
export function globMatcher(pattern: string): Result<(path: string) => boolean> {
  const r = globToRegExp(pattern);
  if (!r.ok) return r;
  const re = r.value;
  return ok((path: string) => re.test(path));
}
