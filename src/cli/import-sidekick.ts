import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { convertSidekick, validateConversion } from '../migrate/convert.js';
import { formatReport } from '../migrate/report.js';
import { readSidekickSource } from '../migrate/source.js';

const USAGE = `usage: falconet import-sidekick [--config sidekick.yaml] [--env] [--out falconet.yaml] [--inline-secrets]

Reads a Falcosidekick config file and/or its environment variables (--env: env over file, as
Falcosidekick does), writes the equivalent Falconet config (stdout unless --out) and reports what
became of every setting. Secrets are written as \${ENV} references unless --inline-secrets.`;

/** `falconet import-sidekick`: exit 0 when the result validates, 1 when not, 2 on usage errors. */
export function importSidekickCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        env: { type: 'boolean' },
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
  if (!values.config && !values.env) {
    console.error(`falconet import-sidekick: give --config, --env or both\n\n${USAGE}`);
    return 2;
  }
  let yaml: string | undefined;
  if (values.config) {
    try {
      yaml = readFileSync(values.config, 'utf8');
    } catch (err) {
      console.error(`falconet import-sidekick: cannot read ${values.config}: ${(err as NodeJS.ErrnoException).code}`);
      return 1;
    }
  }
  const source = readSidekickSource({ yaml, env: values.env ? env : undefined });
  const conversion = convertSidekick(source, { inlineSecrets: values['inline-secrets'] });
  const issues = validateConversion(conversion, env);
  const origin = [values.config, values.env && 'the environment'].filter(Boolean).join(' and ');
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
