import { readFileSync } from 'node:fs';

/**
 * A key, certificate or credentials file an option names. `key` (`tls.ca`, `nkey`) names the option
 * in the error, so a missing file refuses to start that output with the key path, not a bare ENOENT.
 */
export function readKeyFile(path: string, key: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** PEM text as given, or read from the file it names. */
export function pem(value: string | undefined, key = 'tls'): string | undefined {
  if (value === undefined) return undefined;
  return value.includes('-----BEGIN') ? value : readKeyFile(value, key);
}
