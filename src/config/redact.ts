import { redactUrl } from '../../outputs/kit/redact.js';

const SECRET_KEY = /(token|secret|password|apikey|routingkey|authorization|signing|^key$)/i;

/**
 * A copy of an output's config safe to print: declared secret keys and anything that looks like
 * one are blanked; URLs keep only scheme and host (Slack/Teams URLs embed their credential).
 */
export function redactOutputConfig(config: object, secretKeys: readonly string[] = []): Record<string, unknown> {
  const secrets = new Set(secretKeys);
  const walk = (value: unknown, path: string, key: string): unknown => {
    const secret = secrets.has(path) || SECRET_KEY.test(key);
    if (typeof value === 'string') {
      if (value.includes('-----BEGIN')) return '[redacted PEM]';
      // A token-named key is blanked whatever it holds; a declared secret URL keeps its host.
      if (SECRET_KEY.test(key)) return '[redacted]';
      if (/^[a-z]+:\/\//i.test(value)) return redactUrl(value);
      return secret ? '[redacted]' : value;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${path}.${i}`, key));
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, secret && typeof v === 'string' ? '[redacted]' : walk(v, path ? `${path}.${k}` : k, k)]),
      );
    }
    return secret && value !== undefined ? '[redacted]' : value;
  };
  return walk(config, '', '') as Record<string, unknown>;
}
