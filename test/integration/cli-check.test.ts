import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'falconet-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs `tsx src/cli/run.ts …` as a real child process. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', ...args], {
      cwd: root,
      env: { ...process.env, ...env },
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

describe('falconet check', () => {
  it('refuses a bad config with exit 1, printing the key path', async () => {
    const r = await cli(['check', '--config', 'test/fixtures/configs/missing-output.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('routes[1].outputs[0]: output "platform" is not defined');
    expect(r.stdout).toBe('');
    const r2 = await cli(['check', '--config', 'test/fixtures/configs/env-unset.yaml']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain('outputs.team1.headers.Authorization: environment variable FALCONET_TEST_UNSET_TOKEN is not set');
  });

  it('prints outputs and routes of a good config with every secret redacted', async () => {
    const path = join(tmp, 'good.yaml');
    writeFileSync(
      path,
      [
        'outputs:',
        '  siem:',
        '    type: webhook',
        '    url: "https://siem.example.org/ingest/${SIEM_PATH_TOKEN}?token=${SIEM_QUERY_TOKEN}"',
        '    headers:',
        '      Authorization: "Bearer ${SIEM_TOKEN}"',
        '  console: { type: stdout }',
        '  chat:',
        '    type: slack',
        '    webhookUrl: "https://hooks.slack.com/services/T0/B0/${SIEM_TOKEN}"',
        '    dedup: { window: 5m, key: [rule, output_fields.k8s.ns.name] }',
        'routes:',
        '  - match: { priority: ">=warning" }',
        '    outputs: [siem]',
        '    continue: true',
        '  - outputs: [console]',
      ].join('\n'),
    );
    const secrets = { SIEM_TOKEN: 'bearer-s3cr3t-1234', SIEM_QUERY_TOKEN: 'query-s3cr3t-5678', SIEM_PATH_TOKEN: 'path-s3cr3t-9012' };
    const r = await cli(['check', '--config', path], secrets);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`config ${path} is valid`);
    expect(r.stdout).toMatch(/siem \(webhook\): .*siem\.example\.org/);
    expect(r.stdout).toMatch(/console \(stdout\)/);
    expect(r.stdout).toMatch(/-> siem \(continue\)/);
    // Each output's noise control: the SIEM gets every alert, the chat folds storms and overflow.
    expect(r.stdout).toContain('dedup: exact duplicates of one Falco event dropped for 10m');
    expect(r.stdout).toMatch(/siem \(webhook\).*\n    noise: dedup off \(every alert\); no rate limit/);
    expect(r.stdout).toMatch(/chat \(slack\).*\n    noise: dedup 5m on rule, output_fields\.k8s\.ns\.name .*; overflow digest after 1m of backlog at 1 per 1s/);
    for (const secret of Object.values(secrets)) expect(r.stdout).not.toContain(secret);
    expect(r.stdout).not.toContain('s3cr3t');
    expect(r.stdout).toContain('[redacted]');
  });
});
