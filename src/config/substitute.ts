import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigIssue } from './errors.js';

const PLACEHOLDER = /\$\{(file:)?([^}]+)\}/g;

/**
 * Replaces ${ENV_VAR} and ${file:/path} inside every string of the parsed YAML, so secrets live in
 * the environment or in mounted files rather than in the config. Done after YAML parsing, so a
 * secret cannot inject YAML. A missing variable or unreadable file is an error naming the key.
 */
export function substituteSecrets(value: unknown, env: NodeJS.ProcessEnv): unknown {
  const issues: ConfigIssue[] = [];
  const walk = (node: unknown, path: Array<string | number>): unknown => {
    if (typeof node === 'string') return substituteString(node, path, env, issues);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return node;
  };
  const result = walk(value, []);
  if (issues.length > 0) throw new ConfigError(issues);
  return result;
}

function substituteString(text: string, path: Array<string | number>, env: NodeJS.ProcessEnv, issues: ConfigIssue[]) {
  return text.replace(PLACEHOLDER, (whole, file: string | undefined, name: string) => {
    if (file) {
      try {
        return readFileSync(name, 'utf8').trim();
      } catch (err) {
        issues.push({ path, message: `cannot read secret file ${name}: ${(err as NodeJS.ErrnoException).code}` });
        return whole;
      }
    }
    const value = env[name];
    if (value === undefined) {
      issues.push({ path, message: `environment variable ${name} is not set` });
      return whole;
    }
    return value;
  });
}
