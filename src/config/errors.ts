export interface ConfigIssue {
  path: ReadonlyArray<PropertyKey>;
  message: string;
}

/** `outputs.team1.url`, `routes[0].outputs[1]`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out || '(root)';
}

/** Invalid configuration: every problem with the path of its key. Falconet refuses to start. */
export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[], source?: string) {
    super(
      `invalid configuration${source ? ` in ${source}` : ''}:\n` +
        issues.map((i) => `  ${formatPath(i.path)}: ${i.message}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}
