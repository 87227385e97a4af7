import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { importSidekickCommand } from '../../src/cli/import-sidekick.js';
import { parseEnvFile } from '../helpers/env-file.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'falconet-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** `falconet <args>` as a real child process, with only the env given (plus PATH). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const SECRET_ENV = {
  SLACK_WEBHOOKURL: 'https://hooks.slack.com/services/T0123/B0456/s3cr3tSlackToken',
  TEAMS_WEBHOOKURL: 'https://contoso.webhook.office.com/webhookb2/0a1b2c/IncomingWebhook/s3cr3tTeams/3d4e5f',
  PAGERDUTY_ROUTINGKEY: 's3cr3tR0utingKey0123456789abcdef',
  ELASTICSEARCH_PASSWORD: 's3cr3t-es-password',
  LOKI_APIKEY: 's3cr3t-loki-key',
  WEBHOOK_CUSTOMHEADERS_X_API_KEY: 's3cr3t-siem-key',
};

describe('falconet import-sidekick (CLI)', () => {
  it('converts the documented example; the written file passes falconet check with the listed env vars set', async () => {
    const out = join(tmp, 'from-file.yaml');
    const r = await cli(['import-sidekick', '--config', 'test/fixtures/sidekick/full.yaml', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('7 native output(s)');
    expect(r.stdout).toContain('slack.minimumpriorty: unknown key');
    expect(r.stdout).toContain('Kafka (kafka) -> not converted');
    for (const env of Object.keys(SECRET_ENV)) expect(r.stdout).toContain(`  ${env}  (`);
    expect(r.stdout).toContain('the converted config is valid');
    const written = readFileSync(out, 'utf8');
    for (const value of Object.values(SECRET_ENV)) expect(written).not.toContain(value.split('/').pop());

    const check = await cli(['check', '--config', out], SECRET_ENV);
    expect(check.stderr).toBe('');
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('is valid');
    for (const name of ['slack', 'teams', 'alertmanager', 'pagerduty', 'elasticsearch', 'loki', 'webhook']) expect(check.stdout).toContain(`  ${name} (`);
  });

  it('--env reads the env-var form (full.env) to the same file; env overrides the file', async () => {
    const env = parseEnvFile(readFileSync(join(root, 'test/fixtures/sidekick/full.env'), 'utf8'));
    const a = await cli(['import-sidekick', '--config', 'test/fixtures/sidekick/full.yaml', '--out', join(tmp, 'a.yaml')]);
    const b = await cli(['import-sidekick', '--env', '--out', join(tmp, 'b.yaml')], env);
    expect([a.code, b.code]).toEqual([0, 0]);
    const body = (f: string) => readFileSync(join(tmp, f), 'utf8').replace(/^#.*\n/, '');
    expect(body('b.yaml')).toBe(body('a.yaml'));

    const c = await cli(['import-sidekick', '--config', 'test/fixtures/sidekick/full.yaml', '--env'], { PAGERDUTY_MINIMUMPRIORITY: 'alert' });
    expect(c.code).toBe(0);
    expect(c.stdout).toMatch(/pagerduty:\n(?: {4}.*\n)*? {4}minimumPriority: alert\n/);
    expect(c.stderr).toContain('PAGERDUTY_MINIMUMPRIORITY over pagerduty.minimumpriority');
  });

  it('--helm-values reads the chart\'s values; --inline-secrets writes the values', async () => {
    const r = await cli(['import-sidekick', '--helm-values', 'test/fixtures/sidekick/falco-chart-values.yaml', '--inline-secrets']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('s3cr3tR0utingKey0123456789abcdef');
    expect(r.stderr).toContain('config.extraenv: unknown key');
  });

  it('usage errors exit 2', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(importSidekickCommand([], {})).toBe(2);
      expect(importSidekickCommand(['--bogus'], {})).toBe(2);
      expect(errors.mock.calls.map((c) => String(c[0])).join('\n')).toContain('give --config, --env, --env-file or --helm-values');
    } finally {
      errors.mockRestore();
    }
  });
});
