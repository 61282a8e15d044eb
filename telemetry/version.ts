// The product's version: package.json's, read once (the image ships package.json beside the code).
import { readFileSync } from 'node:fs';

let cached: string | null = null;

export function version(): string {
  if (cached !== null) return cached;
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
