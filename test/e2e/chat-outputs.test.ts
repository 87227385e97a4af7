import { describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest, type ScriptedResponse } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
const capture = () => rig.capture();

const lines = fixtureAlertLines();
const ruleOf = (line: string) => (JSON.parse(line) as { rule: string }).rule;

/** What Slack requires of our message (outputs.md §1.3/§1.5); anything else gets Slack's 400. */
function slackShapeProblem(req: CapturedRequest): string | undefined {
  const m = JSON.parse(req.body) as { text?: unknown; attachments?: Array<{ color?: string; blocks?: Array<{ type: string }> }> };
  if (typeof m.text !== 'string' || m.text === '') return 'no_text';
  const a = m.attachments?.[0];
  if (!a || !/^#[0-9a-f]{6}$/.test(a.color ?? '')) return 'invalid_attachments';
  const types = (a.blocks ?? []).map((b) => b.type);
  if (types[0] !== 'header' || !types.includes('section') || types.length > 50) return 'invalid_blocks';
  return undefined;
}

/** The Workflows envelope and card (outputs.md §2.2). */
function teamsShapeProblem(req: CapturedRequest): string | undefined {
  const m = JSON.parse(req.body) as { type?: string; attachments?: Array<{ contentType?: string; content?: { type?: string; version?: string; body?: Array<{ type: string }> } }> };
  if (m.type !== 'message' || m.attachments?.length !== 1) return 'bad envelope';
  const a = m.attachments[0]!;
  if (a.contentType !== 'application/vnd.microsoft.card.adaptive' || a.content?.type !== 'AdaptiveCard' || a.content.version !== '1.4') return 'bad card';
  if (a.content.body?.[0]?.type !== 'TextBlock' || !a.content.body.some((b) => b.type === 'FactSet')) return 'bad body';
  if (Buffer.byteLength(req.body) > 28 * 1024) return 'request entity too large';
  return undefined;
}

const validating = (problem: (r: CapturedRequest) => string | undefined, ok: number) => (req: CapturedRequest): ScriptedResponse => {
  const p = problem(req);
  return p ? { status: 400, body: p } : { status: ok, body: ok === 200 ? 'ok' : '' };
};

describe('chat outputs end to end', () => {
  it('delivers fixture alerts to Slack and Teams in their documented shapes', async () => {
    const slack = await capture();
    const teams = await capture();
    slack.fallback = validating(slackShapeProblem, 200);
    teams.fallback = validating(teamsShapeProblem, 202);
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          slack: { type: 'slack', webhookUrl: `${slack.url}/services/T1/B1/secret` },
          teams: { type: 'teams', webhookUrl: `${teams.url}/workflows/1/triggers/manual/paths/invoke?sig=secret` },
        },
        routes: [{ outputs: ['slack', 'teams'] }],
      }),
    );
    const sent = [lines[23]!, lines[3]!]; // syscall with int64 fields, plugin with unicode
    for (const line of sent) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);
    await waitFor(() => slack.requests.length >= 2 && teams.requests.length >= 2, { what: 'both alerts at both outputs' });
    for (const req of slack.requests) expect(slackShapeProblem(req)).toBeUndefined();
    for (const req of teams.requests) expect(teamsShapeProblem(req)).toBeUndefined();
    expect(slack.requests.map((r) => r.body).join()).toContain('Zoë Ångström');
    expect(teams.requests.map((r) => r.body).join()).toContain('1749722998004512930');
    const slackRules = slack.requests.map((r) => (JSON.parse(r.body) as { attachments: Array<{ blocks: Array<{ text?: { text: string } }> }> }).attachments[0]!.blocks[0]!.text!.text);
    expect(slackRules.sort()).toEqual(['Critical: Drop and execute new binary in container', 'Notice: User has been locked out in OKTA']);
  });

  it('a Slack 429 with Retry-After pauses only Slack; the webhook keeps delivering; Slack gets each alert once', async () => {
    const slack = await capture();
    const hook = await capture();
    slack.respondWith({ status: 429, headers: { 'retry-after': '2' }, body: 'rate_limited' });
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          slack: { type: 'slack', webhookUrl: `${slack.url}/services/T1/B1/secret` },
          hook: { type: 'webhook', url: `${hook.url}/ingest` },
        },
        routes: [{ outputs: ['slack', 'hook'] }],
      }),
    );
    const sent = [lines[8]!, lines[19]!, lines[23]!];
    for (const line of sent) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);

    await waitFor(() => hook.requests.length >= sent.length, { what: 'webhook deliveries' });
    await waitFor(() => slack.requests.length >= sent.length + 1, { timeoutMs: 20_000, what: 'Slack deliveries after the pause' });
    // Nothing left to send: every Slack job completed, none waiting to send a duplicate.
    await waitFor(async () => (await pipeline!.queue('slack').getJobCounts('completed')).completed === sent.length, { what: 'Slack jobs completed' });
    const counts = await pipeline.queue('slack').getJobCounts('waiting', 'delayed', 'active', 'failed');
    expect(counts).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0 });

    const [limited, ...delivered] = slack.requests;
    expect(delivered).toHaveLength(sent.length);
    const deliveredRules = delivered.map((r) => (JSON.parse(r.body) as { attachments: Array<{ blocks: Array<{ text?: { text: string } }> }> }).attachments[0]!.blocks.map((b) => b.text?.text).join('\n'));
    for (const line of sent) expect(deliveredRules.filter((t) => t.includes(ruleOf(line))), ruleOf(line)).toHaveLength(1);

    // The pause is observable as an ordering: the webhook had everything before Slack was retried,
    // and Slack's retry waited out the 2 s it was asked to (less a little clock granularity).
    const firstRetry = delivered[0]!.at;
    expect(firstRetry - limited!.at).toBeGreaterThanOrEqual(1_900);
    expect(hook.requests).toHaveLength(sent.length);
    for (const req of hook.requests) expect(req.at).toBeLessThan(firstRetry);
    expect(hook.requests.map((r) => (JSON.parse(r.body) as { rule: string }).rule).sort()).toEqual(sent.map(ruleOf).sort());
  });
});
