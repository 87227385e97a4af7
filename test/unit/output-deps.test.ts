import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The output kit's dependency rule (issue 14): code under outputs/ imports only outputs/ and the
 * alert model (src/alert), so the core depends on the outputs and never the reverse, and an output
 * can be read, tested and reviewed alone. Tests are exempt (they drive outputs through src/config).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ALLOWED = [join(ROOT, 'outputs'), join(ROOT, 'src/alert')];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'golden' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function relativeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((spec) => resolve(dirname(file), spec));
}

describe('output dependency rule', () => {
  it('finds the outputs it checks', () => {
    expect(sourceFiles(join(ROOT, 'outputs')).length).toBeGreaterThan(20);
  });

  it('non-test code under outputs/ imports only outputs/ and src/alert/', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(join(ROOT, 'outputs'))) {
      for (const target of relativeImports(file)) {
        if (!ALLOWED.some((dir) => target.startsWith(`${dir}/`))) violations.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('src/alert/ does not reach back into the core either', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(join(ROOT, 'src/alert'))) {
      for (const target of relativeImports(file)) {
        if (!target.startsWith(`${join(ROOT, 'src/alert')}/`)) violations.push(`${relative(ROOT, file)} imports ${relative(ROOT, target)}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
