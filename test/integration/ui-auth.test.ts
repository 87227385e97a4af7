import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fixtureAlertLines, falcoHeaders } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';
import { isLoopback } from '../../src/ui/session-routes.js';
import { verifyPassword } from '../../src/ui/passwords.js';

const rig = useRig();
const root = fileURLToPath(new URL('../../', import.meta.url));

/** `falconet hash-password` as a user runs it, the password on stdin. */
function hashPasswordCli(password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--import', 'tsx', '-e', "import('./src/cli/main.ts').then((m) => m.main(['hash-password'])).then((c) => process.exit(c))"], { cwd: root }, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
    child.stdin!.end(`${password}\n`);
  });
}

const nsOf = (l: string) => (JSON.parse(l).output_fields ?? {})['k8s.ns.name'] as string | undefined;

describe('UI users: password hashes, session cookie, CSRF, tenant scope', () => {
  it('login sets an HttpOnly SameSite cookie; a tenant user sees its tenant only; changes need the CSRF token; logout ends the session', async () => {
    const [teamHash, adminHash] = await Promise.all([hashPasswordCli('team1-secret-pw'), hashPasswordCli('admin-secret-pw')]);
    expect(teamHash).toMatch(/^scrypt\$/);
    expect(await verifyPassword(teamHash, 'team1-secret-pw')).toBe(true);
    expect(await verifyPassword(teamHash, 'team1-secret-px')).toBe(false);
    const sink = await rig.capture();
    const ingest = 'i'.repeat(32);
    const p: Pipeline = await rig.pipeline(
      testConfig({
        auth: { tokens: [{ name: 'falco-team1', token: ingest, tenant: 'team1' }, { name: 'falco-team2', token: 'j'.repeat(32), tenant: 'team2' }] },
        ui: { users: [{ name: 'alice', passwordHash: teamHash, tenant: 'team1' }, { name: 'admin', passwordHash: adminHash }] },
        dedup: { window: 0 },
        outputs: { hook: { type: 'webhook', url: `${sink.url}/h` } },
        routes: [{ outputs: ['hook'] }],
      }),
    );
    const lines = fixtureAlertLines();
    for (const l of lines.filter((x) => nsOf(x) === 'team1')) expect((await p.post(l, { ...falcoHeaders(), authorization: `Bearer ${ingest}` })).status).toBe(200);
    for (const l of lines.filter((x) => nsOf(x) === 'team2')) expect((await p.post(l, { ...falcoHeaders(), authorization: `Bearer ${'j'.repeat(32)}` })).status).toBe(200);
    const url = p.collector.url;
    const login = (name: string, password: string) => fetch(`${url}/api/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });

    expect((await fetch(`${url}/api/alerts`)).status).toBe(401);
    expect((await login('alice', 'wrong-password')).status).toBe(401);
    expect((await login('nobody', 'team1-secret-pw')).status).toBe(401);
    const ok = await login('alice', 'team1-secret-pw');
    expect(ok.status).toBe(200);
    const setCookie = ok.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^falconet_session=[A-Za-z0-9_-]{40,};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).not.toContain('Secure'); // plain HTTP here; under TLS the cookie is Secure
    const { csrf, tenant } = (await ok.json()) as { csrf: string; tenant: string };
    expect(tenant).toBe('team1');
    const cookie = setCookie.split(';')[0]!;

    const team1 = lines.filter((l) => nsOf(l) === 'team1').length;
    const listed = await waitFor(async () => {
      const r = (await (await fetch(`${url}/api/alerts`, { headers: { cookie } })).json()) as { alerts: Array<{ output_fields: Record<string, string> }> };
      return r.alerts.length === team1 ? r : undefined;
    }, { what: 'team1 alerts for alice' });
    expect(new Set(listed.alerts.map((a) => a.output_fields['falconet.tenant']))).toEqual(new Set(['team1']));
    expect(((await (await fetch(`${url}/api/session`, { headers: { cookie } })).json()) as { name: string }).name).toBe('alice');

    // A tenant user does not reach the dead letters; the platform user does, and a change needs the CSRF header.
    expect((await fetch(`${url}/api/dlq`, { headers: { cookie } })).status).toBe(403);
    const admin = (await login('admin', 'admin-secret-pw'));
    const adminCookie = admin.headers.get('set-cookie')!.split(';')[0]!;
    const adminCsrf = ((await admin.json()) as { csrf: string }).csrf;
    expect((await fetch(`${url}/api/alerts?limit=1`, { headers: { cookie: adminCookie } })).status).toBe(200);
    const replay = (headers: Record<string, string>) => fetch(`${url}/api/dlq/replay`, { method: 'POST', headers: { cookie: adminCookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ output: 'hook' }) });
    expect((await replay({})).status).toBe(403);
    expect((await replay({ 'x-falconet-csrf': 'forged' })).status).toBe(403);
    expect((await replay({ 'x-falconet-csrf': adminCsrf })).status).toBe(200);

    // Logout (with the CSRF token) ends the session everywhere.
    expect((await fetch(`${url}/api/session`, { method: 'DELETE', headers: { cookie } })).status).toBe(403);
    expect((await fetch(`${url}/api/session`, { method: 'DELETE', headers: { cookie, 'x-falconet-csrf': csrf } })).status).toBe(200);
    expect((await fetch(`${url}/api/alerts`, { headers: { cookie } })).status).toBe(401);
    // Ingest still takes tokens only: a session cookie posts nothing.
    expect((await p.post(lines[0]!, { ...falcoHeaders(), cookie: adminCookie })).status).toBe(401);
  }, 60_000);

  it('with no users and no tokens the UI answers on loopback only and says so', async () => {
    const sink = await rig.capture();
    const p = await rig.pipeline(testConfig({ outputs: { hook: { type: 'webhook', url: `${sink.url}/h` } }, routes: [{ outputs: ['hook'] }] }));
    expect(((await (await fetch(`${p.collector.url}/api/session`)).json()) as { open: boolean }).open).toBe(true);
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopback('10.0.0.7')).toBe(false);
    expect(isLoopback('::ffff:10.0.0.7')).toBe(false);
  });
});
