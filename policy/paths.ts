// Dotted field paths, as problems report them: `spec.file.matchDirectories[1].dir`.
// Keys that are not plain identifiers are quoted: `spec.selector.matchLabels["app.kubernetes.io/name"]`.

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** The path of `key` (a property name or an array index) below `base`. */
export function childPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (!IDENTIFIER.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** Converts a JSON Pointer (RFC 6901, as ajv's instancePath) to a dotted path.
 *  Segments made only of digits are taken as array indexes. */
export function pointerToPath(pointer: string): string {
  if (pointer === '' || pointer === '/') return '';
  let out = '';
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = /^(0|[1-9][0-9]*)$/.test(seg) ? childPath(out, Number(seg)) : childPath(out, seg);
  }
  return out;
}
