// `armorgate validate PATH...`: checks KubeArmor policy files offline, as the webhook would.
// PATHs are files, or folders searched recursively for .yaml, .yml and .json; `-` is standard
// input (named `-` in the output). Prints on stdout one line per problem:
//   FILE#N: FIELD.PATH: message              (N: 1-based document index in the file)
//   FILE#N: warning: FIELD.PATH: message
// (a problem of the whole document, such as YAML that does not parse, has no FIELD.PATH),
// then `N documents, N invalid, N warnings`. Documents that are not KubeArmor policies are
// skipped with a warning. With `-o json`, one JSON object instead (for CI pipelines):
//   { documents, invalid, warnings, findings: [{ file, document, level, path, message }], unreadable: [...] }
// Exit 0 when every document is valid (warnings allowed), 1 when any is invalid, 2 for a
// usage error or a path that cannot be read.
import { Command, Option } from 'commander';
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../policy/types.ts';

const EXTENSIONS = ['.yaml', '.yml', '.json'];

export function command(): Command {
  return new Command('validate')
    .description('validate KubeArmor policies (files, or folders searched for .yaml, .yml, .json)')
    .argument('<paths...>', 'policy files or folders; - for standard input')
    .addOption(new Option('-o, --output <format>', 'text (one line per problem) or json (one object: findings and counts)').choices(['text', 'json']).default('text'))
    .action(async (paths: string[], o: { output: 'text' | 'json' }) => {
      process.exitCode = await run(paths, o.output);
    });
}

/** Files to validate, in a stable order, and the paths that could not be read. */
export function collectFiles(paths: readonly string[]): { files: string[]; unreadable: string[] } {
  const files: string[] = [];
  const unreadable: string[] = [];
  const visited = new Set<string>(); // real paths of folders, against symlink loops
  const walk = (dir: string): void => {
    let real: string;
    let entries: string[];
    try {
      real = realpathSync(dir);
      if (visited.has(real)) return;
      visited.add(real);
      entries = readdirSync(dir).sort();
    } catch (e) {
      unreadable.push(`${dir}: ${reason(e)}`);
      return;
    }
    for (const name of entries) {
      const p = join(dir, name);
      let st;
      try {
        st = statSync(p);
      } catch (e) {
        unreadable.push(`${p}: ${reason(e)}`);
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && EXTENSIONS.some((x) => name.toLowerCase().endsWith(x))) files.push(p);
    }
  };
  for (const p of paths) {
    if (p === STDIN) { files.push(p); continue; }
    try {
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else files.push(p);
    } catch (e) {
      unreadable.push(`${p}: ${reason(e)}`);
    }
  }
  return { files, unreadable };
}

function reason(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file or folder';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/** One output line for a problem of document N of FILE. */
export function formatProblem(file: string, index: number, p: Problem): string {
  return `${file}#${index}: ${p.level === 'warning' ? 'warning: ' : ''}${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

/** One problem found, as `-o json` lists it. */
export interface Finding { file: string; document: number; level: 'error' | 'warning'; path: string; message: string }

const STDIN = '-';

async function run(paths: string[], output: 'text' | 'json' = 'text'): Promise<number> {
  const { parseDocuments } = await import('../policy/parse.ts');
  const { isPolicyDocument, nullFromSourceWarnings, validatePolicy } = await import('../policy/validate.ts');
  const { files, unreadable } = collectFiles(paths);
  let documents = 0;
  let invalid = 0;
  let warnings = 0;
  const findings: Finding[] = [];
  const json = output === 'json';
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(file === STDIN ? 0 : file);
    } catch (e) {
      unreadable.push(`${file}: ${reason(e)}`);
      continue;
    }
    const lines: string[] = [];
    for (const doc of parseDocuments(bytes)) {
      if (doc.error !== undefined) {
        documents++;
        invalid++;
        lines.push(`${file}#${doc.index}: ${doc.error.message}`);
        findings.push({ file, document: doc.index, level: 'error', path: '', message: doc.error.message });
        continue;
      }
      if (doc.value === null) continue; // an empty document (a stray `---`)
      documents++;
      if (!isPolicyDocument(doc.value)) {
        warnings++;
        lines.push(formatProblem(file, doc.index, { level: 'warning', path: 'kind', message: skipReason(doc.value) }));
        findings.push({ file, document: doc.index, level: 'warning', path: 'kind', message: skipReason(doc.value) });
        continue;
      }
      const result = validatePolicy(doc.value);
      const problems = [...result.problems, ...nullFromSourceWarnings(doc.nullFromSource)];
      for (const p of problems) {
        if (p.level === 'warning') warnings++;
        lines.push(formatProblem(file, doc.index, p));
        findings.push({ file, document: doc.index, level: p.level, path: p.path, message: p.message });
      }
      if (result.policy === null) invalid++;
    }
    if (lines.length > 0 && !json) process.stdout.write(lines.join('\n') + '\n');
  }
  for (const u of unreadable) process.stderr.write(`armorgate validate: cannot read ${u}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ documents, invalid, warnings, findings, unreadable }, null, 2)}\n`);
  else process.stdout.write(`${documents} documents, ${invalid} invalid, ${warnings} warnings\n`);
  if (unreadable.length > 0) return 2;
  return invalid > 0 ? 1 : 0;
}

/** Why a document is skipped. */
function skipReason(v: unknown): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return `not a KubeArmor policy (a ${Array.isArray(v) ? 'list' : typeof v}, not a mapping); skipped`;
  const kind = (v as Record<string, unknown>).kind;
  if (typeof kind === 'string' && kind.startsWith('KubeArmor')) return `${kind} is not supported yet; skipped`;
  return `not a KubeArmor policy (${kind === undefined ? 'no kind' : `kind ${JSON.stringify(kind)}`}); skipped`;
}
