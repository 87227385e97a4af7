import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { fixtureAlertLines, falcoHeaders } from '../helpers/fixtures.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const rig = useRig();

const TEAM1 = 'team1-token-0123456789abcdef';
const TEAM2 = 'team2-token-0123456789abcdef';
const PLATFORM = 'platform-token-0123456789ab';

const alert = (fields: Record<string, unknown>, over: Record<string, unknown> = {}) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Notice', time: '2025-06-12T08:00:00.000000001Z', output: 'shell', output_fields: fields, ...over });

async function start() {
  const team1 = await rig.capture();
  const team2 = await rig.capture();
  const all = await rig.capture();
  const p = await rig.pipeline(
    testConfig({
      dedup: { window: 0 },
      auth: {
        tokens: [
          { name: 'team1-nodes', token: TEAM1, tenant: 'team1', cluster: 'prod-eu-1', namespaces: ['team1', '/^team1-/'] },
          { name: 'team2-nodes', token: TEAM2, tenant: 'team2', cluster: 'prod-eu-1', namespaces: ['team2'] },
          { name: 'platform', token: PLATFORM, cluster: 'prod-eu-1' },
        ],
      },
      outputs: {
        team1: { type: 'webhook', url: `${team1.url}/hook` },
        team2: { type: 'webhook', url: `${team2.url}/hook` },
        all: { type: 'webhook', url: `${all.url}/hook` },
      },
      routes: [
        { match: { tenant: 'team1' }, outputs: ['team1'], continue: true },
        { match: { tenant: 'team2' }, outputs: ['team2'], continue: true },
        { outputs: ['all'] },
      ],
    }),
  );
  const bearer = (token: string) => ({ ...falcoHeaders(), authorization: `Bearer ${token}` });
  const metrics = async () => (await fetch(`${p.collector.url}/metrics`)).text();
  return { p, team1, team2, all, bearer, metrics };
}

const bodies = (c: { requests: Array<{ body: string }> }) => c.requests.map((r) => JSON.parse(r.body) as { output: string; output_fields: Record<string, unknown> });

describe('collector auth: tokens', () => {
  it('no token and a wrong token get 401 with WWW-Authenticate and no detail; probes stay open; failures counted by name, never by value', async () => {
    const { p, all, metrics } = await start();
    const none = await p.post(alert({ 'k8s.ns.name': 'team1' }));
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/Basic realm="falconet"/);
    expect(await none.json()).toEqual({ error: 'unauthorized' });
    const wrong = await p.post(alert({ 'k8s.ns.name': 'team1' }), { ...falcoHeaders(), authorization: 'Bearer not-the-token-at-all-123' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: 'unauthorized' });
    // A token of the right length but one character off: the same answer.
    const almost = await p.post(alert({}), { ...falcoHeaders(), authorization: `Bearer ${TEAM1.slice(0, -1)}X` });
    expect(almost.status).toBe(401);
    expect((await p.post('', {}, '/test')).status).toBe(401);
    expect((await fetch(`${p.collector.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${p.collector.url}/readyz`)).status).toBe(200);
    // /api/* (the DLQ routes) needs a token too, whatever the method.
    expect((await fetch(`${p.collector.url}/api/dlq`)).status).toBe(401);
    expect((await fetch(`${p.collector.url}/api/dlq`, { headers: { authorization: `Bearer ${PLATFORM}` } })).status).not.toBe(401);
    const text = await metrics();
    expect(text).toMatch(/falconet_auth_refused_total\{identity="unknown",reason="missing"\} 3/);
    expect(text).toMatch(/falconet_auth_refused_total\{identity="unknown",reason="invalid"\} 2/);
    expect(text).not.toContain('not-the-token');
    expect(text).not.toContain(TEAM1.slice(0, 10));
    // Nothing of the refused requests reached anyone.
    const ok = await p.post(alert({ 'k8s.ns.name': 'team1' }, { output: 'after' }), { ...falcoHeaders(), authorization: `Bearer ${TEAM1}` });
    expect(ok.status).toBe(200);
    await waitFor(() => all.requests.length >= 1, { what: 'the authenticated alert' });
    expect(bodies(all).map((b) => b.output)).toEqual(['after']);
  });

  it('accepts the token as Bearer, as the basic-auth password in the URL (what Falco can send) and as ?token=', async () => {
    const { p, all, bearer } = await start();
    expect((await p.post(alert({ 'k8s.ns.name': 'team1' }, { output: 'bearer' }), bearer(TEAM1))).status).toBe(200);
    expect((await p.post(alert({ 'k8s.ns.name': 'team1' }, { output: 'query' }), falcoHeaders(), `/?token=${TEAM1}`)).status).toBe(200);
    // curl, as Falco's libcurl does with http_output.url: http://falco:TOKEN@host:port/
    const url = p.collector.url.replace('http://', `http://falco:${TEAM1}@`) + '/';
    const { stdout } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'content-type: application/json', '--data-binary', alert({ 'k8s.ns.name': 'team1' }, { output: 'basic' }), url]);
    expect(stdout).toBe('200');
    // POST /test authenticates too, and carries the tenant.
    expect((await p.post('', bearer(TEAM1), '/test')).status).toBe(200);
    await waitFor(() => all.requests.length >= 4, { what: 'four alerts' });
    const outputs = bodies(all).map((b) => b.output);
    expect(outputs.filter((o) => !o.includes('test from Falconet')).sort()).toEqual(['basic', 'bearer', 'query']);
    expect(bodies(all).find((b) => b.output.includes('test from Falconet'))!.output_fields['falconet.tenant']).toBe('team1');
  });

  it('a team1 token posting a team2 namespace gets 403 naming the item, the whole batch refused, nothing delivered; k8s_audit namespaces too', async () => {
    const { p, all, team1, team2, bearer, metrics } = await start();
    const single = await p.post(alert({ 'k8s.ns.name': 'team2' }), bearer(TEAM1));
    expect(single.status).toBe(403);
    expect(await single.json()).toEqual({
      error: 'namespace_forbidden',
      detail: 'output_fields.k8s.ns.name "team2" is not a namespace of token "team1-nodes" (team1, /^team1-/); nothing was accepted',
    });
    const batch = [alert({ 'k8s.ns.name': 'team1' }, { output: 'batch ok' }), alert({ 'k8s.ns.name': 'team2' }, { output: 'batch bad' })].join('\n');
    const refused = await p.post(batch, { ...bearer(TEAM1), 'content-type': 'application/x-ndjson' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/^line 2: output_fields\.k8s\.ns\.name "team2"/);
    // The real k8s_audit alert of the fixtures targeting team2.
    const audit = fixtureAlertLines().find((l) => l.includes('"ka.target.namespace":"team2"'))!;
    const auditAnswer = await p.post(audit, bearer(TEAM1));
    expect(auditAnswer.status).toBe(403);
    expect(((await auditAnswer.json()) as { detail: string }).detail).toMatch(/^output_fields\.ka\.target\.namespace "team2"/);
    // The same audit alert with team2's token is fine, and a regex-listed namespace for team1.
    expect((await p.post(audit, bearer(TEAM2))).status).toBe(200);
    expect((await p.post(alert({ 'k8s.ns.name': 'team1-batch' }, { output: 'regex ns' }), bearer(TEAM1))).status).toBe(200);
    await waitFor(() => all.requests.length >= 2, { what: 'the two accepted alerts' });
    await waitFor(() => team2.requests.length >= 1 && team1.requests.length >= 1, { what: 'tenant routes' });
    const delivered = [...bodies(all), ...bodies(team1), ...bodies(team2)].map((b) => b.output);
    expect(delivered).not.toContain('batch ok');
    expect(delivered).not.toContain('batch bad');
    expect(bodies(all)).toHaveLength(2);
    expect(await metrics()).toMatch(/falconet_auth_refused_total\{identity="team1-nodes",reason="namespace"\} 3/);
  });

  it("the token's tenant and cluster reach the webhook and route by tenant; a sender cannot forge a tenant it does not hold", async () => {
    const { p, all, team1, team2, bearer } = await start();
    expect((await p.post(alert({ 'k8s.ns.name': 'team1' }, { output: 'from team1' }), bearer(TEAM1))).status).toBe(200);
    // The platform token has no tenant: a falconet.tenant the body brings is removed, not trusted.
    expect((await p.post(alert({ 'falconet.tenant': 'team2', 'k8s.ns.name': 'kube-system' }, { output: 'forged' }), bearer(PLATFORM))).status).toBe(200);
    // team1's token claiming team2 in the field: overwritten with its own tenant.
    expect((await p.post(alert({ 'falconet.tenant': 'team2', 'k8s.ns.name': 'team1' }, { output: 'overwritten' }), bearer(TEAM1))).status).toBe(200);
    await waitFor(() => all.requests.length >= 3, { what: 'three alerts' });
    await waitFor(() => team1.requests.length >= 2, { what: 'team1 route' });
    const byOutput = Object.fromEntries(bodies(all).map((b) => [b.output, b.output_fields]));
    expect(byOutput['from team1']).toMatchObject({ 'falconet.tenant': 'team1', 'falconet.cluster': 'prod-eu-1', 'k8s.ns.name': 'team1' });
    expect(byOutput['forged']!['falconet.tenant']).toBeUndefined();
    expect(byOutput['forged']!['falconet.cluster']).toBe('prod-eu-1');
    expect(byOutput['overwritten']!['falconet.tenant']).toBe('team1');
    expect(bodies(team1).map((b) => b.output).sort()).toEqual(['from team1', 'overwritten']);
    expect(team2.requests).toHaveLength(0);
    // The same bytes from another sender are another alert (ids hash the stamped alert), not a duplicate.
    expect((await p.post(alert({ 'k8s.ns.name': 'team1' }, { output: 'from team1' }), bearer(PLATFORM))).status).toBe(200);
    await waitFor(() => all.requests.length >= 4, { what: 'the platform copy' });
    const copies = bodies(all).filter((b) => b.output === 'from team1');
    expect(copies.map((b) => b.output_fields['falconet.tenant'] ?? 'none').sort()).toEqual(['none', 'team1']);
  });
});
