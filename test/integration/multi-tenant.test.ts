import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.js';
import type { RouteExplanation } from '../../src/router/explain.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = 'config/multi-tenant.example.yaml';
// The example's secrets come from the environment, as in a Deployment with a Secret.
const env = {
  ...process.env,
  SPLUNK_HEC_TOKEN: '00000000-0000-0000-0000-000000000000',
  PAGERDUTY_ROUTING_KEY: 'R0123456789abcdef0123456789abcdef',
  TEAM1_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXX',
  FALCONET_TOKEN_FALCO: 'falco-nodes-token-0123456789',
  FALCONET_TOKEN_TEAM1: 'team1-token-0123456789abcdef',
  FALCONET_TOKEN_TEAM2: 'team2-token-0123456789abcdef',
  TEAM2_TEAMS_WORKFLOW_URL: 'https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke',
};
const cases = readFileSync(`${root}test/fixtures/multi-tenant-alerts.jsonl`, 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l.replace(/:(\d{16,})/g, ':"$1"')) as { case: string; expect: string[]; alert: Record<string, unknown> });

/** `falconet route --config F [--output-json] < stdin` as a real process. */
function route(stdin: string, json: boolean) {
  const args = ['--import', 'tsx', 'src/cli/run.ts', 'route', '--config', EXAMPLE, ...(json ? ['--output-json'] : [])];
  const run = spawnSync(process.execPath, args, { cwd: root, env, input: stdin, encoding: 'utf8', timeout: 60_000 });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  return run.stdout;
}

describe('the multi-tenant example (docs/multi-tenant.md)', () => {
  it('is a valid config', () => {
    const config = loadConfigFile(`${root}${EXAMPLE}`, env);
    expect(Object.keys(config.outputs)).toEqual(['siem', 'pagerduty', 'team1-slack', 'team2-teams']);
    expect(config.auth.tokens.map((t) => [t.name, t.namespaces ?? 'all'])).toEqual([
      ['falco-nodes', 'all'],
      ['team1-senders', ['team1', '/^team1-/']],
      ['team2-senders', ['team2']],
    ]);
  });

  it('falconet route sends each alert of the example to the expected outputs, for the expected reasons', () => {
    const out = JSON.parse(route(cases.map((c) => JSON.stringify(c.alert)).join('\n'), true)) as RouteExplanation[];
    expect(out).toHaveLength(cases.length);
    const got = Object.fromEntries(out.map((e, i) => [cases[i]!.case, [...e.delivered].sort()]));
    expect(got).toEqual(Object.fromEntries(cases.map((c) => [c.case, [...c.expect].sort()])));

    const byCase = (name: string) => out[cases.findIndex((c) => c.case.startsWith(name))]!;
    const routeOf = (e: RouteExplanation, name: string) => e.routes.find((r) => r.name === name)!;
    // ka.target.namespace is routed like k8s.ns.name: the second condition of team1's match_any holds.
    const audit = routeOf(byCase('team1 k8s_audit'), 'team1');
    expect(audit.matched).toBe(true);
    expect(audit.conditions.map((c) => [c.group, c.field, c.holds])).toEqual([
      ['match_any[0]', 'output_fields.k8s.ns.name', false],
      ['match_any[1]', 'output_fields.ka.target.namespace', true],
    ]);
    // team2's Notice is routed to team2-teams but stops at its output floor.
    const floor = byCase('team2 k8s_audit').outputs.find((o) => o.name === 'team2-teams')!;
    expect(floor).toMatchObject({ reached: false, reason: "below the output's minimumPriority Warning" });
    expect(routeOf(byCase('team2 k8s_audit'), 'team2').matched).toBe(true);
    // A namespaced Role change: the rbac route matches and continues to the tenant.
    const rbac = byCase('namespaced RBAC');
    expect(routeOf(rbac, 'rbac changes')).toMatchObject({ matched: true, continue: true });
    expect(routeOf(rbac, 'team1').matched).toBe(true);
    expect(routeOf(rbac, 'platform').tried).toBe(false);
    // Cluster-scoped: no tenant route holds, the platform catch-all takes it.
    const cluster = byCase('cluster-scoped');
    expect(routeOf(cluster, 'team1').matched).toBe(false);
    expect(routeOf(cluster, 'platform').matched).toBe(true);
    // Storm control the team1 Slack alert meets.
    expect(byCase('team1 syscall').outputs.find((o) => o.name === 'team1-slack')!.noise).toMatch(/^dedup 5m on rule, output_fields.k8s.pod.name/);
  }, 60_000);

  it('prints the reasons for a terminal', () => {
    const text = route(JSON.stringify(cases.find((c) => c.case.startsWith('team2 k8s_audit'))!.alert, null, 2), false);
    expect(text).toContain('5. team2: MATCH -> team2-teams (no continue: stops here)');
    expect(text).toContain('match_any[1] output_fields.ka.target.namespace = "team2": holds (alert has "team2")');
    expect(text).toContain("team2-teams (teams): no: below the output's minimumPriority Warning");
    expect(text).toContain('6. platform: not tried (an earlier route matched without continue)');
    expect(text).toMatch(/delivered to: siem$/m);
  }, 60_000);
});
