import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { convertSidekick, validateConversion } from '../migrate/convert.js';
import { formatReport } from '../migrate/report.js';
import { helmValuesToEnv, parseEnvFile, readSidekickSource } from '../migrate/source.js';

const USAGE = `usage: falconet import-sidekick [--config sidekick.yaml] [--env] [--env-file F] [--helm-values F]
                                [--out falconet.yaml] [--inline-secrets]

Reads a Falcosidekick config file and/or its environment variables, writes the equivalent Falconet
config (stdout unless --out) and reports what became of every setting. Env overrides the file, as in
Falcosidekick. The env is this process's (--env), KEY=VALUE lines (--env-file, e.g. the output of
kubectl exec deploy/falcosidekick -- env), or Helm values of the falcosidekick or falco chart
(--helm-values, e.g. helm get values falco -o yaml), in that order of precedence. Secrets are
written as \${ENV} references unless --inline-secrets.`;

/** `falconet import-sidekick`: exit 0 when the result validates, 1 when not, 2 on usage errors. */
export function importSidekickCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        env: { type: 'boolean' },
        'env-file': { type: 'string' },
        'helm-values': { type: 'string' },
        out: { type: 'string', short: 'o' },
        'inline-secrets': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`falconet import-sidekick: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.config && !values.env && !values['env-file'] && !values['helm-values']) {
    console.error(`falconet import-sidekick: give --config, --env, --env-file or --helm-values\n\n${USAGE}`);
    return 2;
  }
  const read = (path: string | undefined): string | undefined => (path === undefined ? undefined : readFileSync(path, 'utf8'));
  let yaml: string | undefined;
  let envFile: string | undefined;
  let helm: string | undefined;
  try {
    [yaml, envFile, helm] = [read(values.config), read(values['env-file']), read(values['helm-values'])];
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    console.error(`falconet import-sidekick: cannot read ${e.path ?? 'a file'}: ${e.code}`);
    return 1;
  }
  const fromHelm = helm === undefined ? undefined : helmValuesToEnv(helm);
  const envSources = [fromHelm?.env, envFile === undefined ? undefined : parseEnvFile(envFile), values.env ? env : undefined].filter((e) => e !== undefined);
  const mergedEnv = envSources.length > 0 ? Object.assign({}, ...envSources) as NodeJS.ProcessEnv : undefined;
  const source = readSidekickSource({ yaml, env: mergedEnv, problems: fromHelm?.problems });
  const conversion = convertSidekick(source, { inlineSecrets: values['inline-secrets'] });
  // %VAR custom fields name variables of the environment they were read from.
  const issues = validateConversion(conversion, { ...mergedEnv, ...env });
  const origin = [values.config, values['helm-values'], values['env-file'], values.env && 'the environment'].filter(Boolean).join(', ');
  const text = `# Converted from Falcosidekick (${origin}) by falconet import-sidekick.\n${stringify(conversion.config, { lineWidth: 0 })}`;
  if (values.out) {
    writeFileSync(values.out, text, { mode: values['inline-secrets'] ? 0o600 : 0o644 });
    console.log(formatReport(conversion, issues));
    console.log(`\nwritten to ${values.out}`);
  } else {
    process.stdout.write(text);
    console.error(formatReport(conversion, issues));
  }
  return issues.length === 0 ? 0 : 1;
}
