import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { DeliveryError } from '../kit/errors.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { CaptureServer, exampleTarget } from '../../test/helpers/capture-server.js';
import { fixtureAlertLines } from '../../test/helpers/fixtures.js';
import { slackOutput } from './index.js';
import { buildSlackMessage, SLACK_LIMITS, type SlackBlock, type SlackMessage } from './payload.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';

const lines = fixtureAlertLines();
const fixture = (index: number): Alert => normalise([[`fixture-${index}`, lines[index]!]])[0]!;

// syscall with int64 fields, k8s_audit, plugins (okta with unicode, gcp with null), internal, nulls in k8s fields.
const GOLDEN = { 'syscall-int64': 23, 'k8s-audit': 19, 'plugin-okta-unicode': 3, 'plugin-gcp-null': 4, 'internal-drops': 24, 'syscall-null-k8s': 12 };

const defaults = { outputFormat: 'all' as const };
const blockTexts = (m: SlackMessage): string[] =>
  m.attachments[0].blocks.flatMap((b: SlackBlock) => ('fields' in b ? b.fields.map((f) => f.text) : 'elements' in b ? b.elements.map((e) => e.text) : [b.text.text]));

describe('Slack payload', () => {
  for (const [name, index] of Object.entries(GOLDEN)) {
    it(`matches the golden message for ${name}`, async () => {
      const message = buildSlackMessage(fixture(index), defaults);
      await expect(`${JSON.stringify(message, null, 2)}\n`).toMatchFileSnapshot(`golden/${name}.json`);
    });
  }

  it('renders a digest natively: the summary as header, where the alerts came from as fields', async () => {
    const message = buildSlackMessage(digestFixture(), defaults);
    await expect(`${JSON.stringify(message, null, 2)}\n`).toMatchFileSnapshot('golden/digest.json');
    expect(message.text).toBe('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    const texts = blockTexts(message).join('\n');
    expect(texts).toContain('nginx-7d9c-a ×200, nginx-7d9c-b ×150, nginx-7d9c-c ×80, nginx-7d9c-d ×40, nginx-7d9c-e ×20, 7 others ×33');
    expect(texts).toContain('523 repeats suppressed by storm control');
  });

  it('fits Slack limits for every fixture alert and shows numbers, int64 and null fields', () => {
    for (let i = 0; i < lines.length; i++) {
      const m = buildSlackMessage(fixture(i), defaults);
      const blocks = m.attachments[0].blocks;
      expect(blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
      expect(blocks[0]!.type).toBe('header');
      for (const b of blocks) if ('fields' in b) expect(b.fields.length).toBeLessThanOrEqual(10);
    }
    const texts = blockTexts(buildSlackMessage(fixture(23), defaults)).join('\n');
    expect(texts).toContain('*evt.time*\n1749722998004512930');
    expect(texts).toContain('*user.loginuid*\n-1');
    expect(blockTexts(buildSlackMessage(fixture(4), defaults)).join('\n')).toContain('*gcp.request*\nnull');
  });

  it('escapes mrkdwn control characters in user-controlled text', () => {
    const alert = { ...fixture(8), output: 'cmd=<NA> a&b <@U123> <!channel>' };
    const section = buildSlackMessage(alert, defaults).attachments[0].blocks[1] as { text: { text: string } };
    expect(section.text.text).toBe('cmd=&lt;NA&gt; a&amp;b &lt;@U123&gt; &lt;!channel&gt;');
  });

  it('outputFormat text omits the fields, fields omits the output text', () => {
    const alert = fixture(8);
    const text = buildSlackMessage(alert, { outputFormat: 'text' }).attachments[0].blocks;
    expect(text.map((b) => b.type)).toEqual(['header', 'section', 'context']);
    expect('text' in text[1]! && text[1].text.text).toContain('A shell was spawned');
    const fields = buildSlackMessage(alert, { outputFormat: 'fields' }).attachments[0].blocks;
    expect(fields.every((b) => !('text' in b) || b.type === 'header')).toBe(true);
    expect(fields.some((b) => 'fields' in b)).toBe(true);
  });

  it('truncates a huge output and hundreds of fields to Slack limits, counting what it leaves out', () => {
    const output_fields: Alert['output_fields'] = {};
    for (let i = 0; i < 600; i++) output_fields[`custom.field${String(i).padStart(3, '0')}`] = 'x'.repeat(i === 0 ? 5000 : 40);
    const alert: Alert = { ...fixture(8), rule: 'R'.repeat(400), output: '<'.repeat(200_000), output_fields };
    const m = buildSlackMessage(alert, defaults);
    const blocks = m.attachments[0].blocks;
    expect(blocks.length).toBeLessThanOrEqual(50);
    const header = blocks[0] as { text: { text: string } };
    expect(header.text.text.length).toBeLessThanOrEqual(150);
    const output = (blocks[1] as { text: { text: string } }).text.text;
    expect(output.length).toBeLessThanOrEqual(3000);
    expect(output).toMatch(/^(&lt;)+…$/); // no half entity at the cut
    for (const b of blocks) if ('fields' in b) for (const f of b.fields) expect(f.text.length).toBeLessThanOrEqual(2000);
    expect(blockTexts(m).join('').length).toBeLessThanOrEqual(SLACK_LIMITS.blockTextBudget + 3000);
    const context = blocks.at(-1) as { type: string; elements: Array<{ text: string }> };
    expect(context.type).toBe('context');
    expect(context.elements[0]!.text).toMatch(/\d+ more fields not shown/);
  });

  it('uses the title and messageFormat templates, and channel/username when set', () => {
    const m = buildSlackMessage(fixture(23), {
      outputFormat: 'text',
      title: '{{priority}} on {{hostname}} ({{output_fields.k8s.ns.name}})',
      messageFormat: '`{{output_fields.proc.cmdline}}` in {{output_fields.container.name}}',
      channel: '#falco',
      username: 'Falconet',
    });
    expect(m.text).toBe('Critical on ip-10-0-47-201.ec2.internal (team2)');
    expect((m.attachments[0].blocks[1] as { text: { text: string } }).text.text).toBe('`kworkerds -o pool.example.net:3333 -B` in nginx');
    expect(m.channel).toBe('#falco');
    expect(m.username).toBe('Falconet');
  });
});

describe('Slack output', () => {
  let capture: CaptureServer | undefined;
  afterEach(async () => {
    await capture?.stop();
    capture = undefined;
  });

  it('defaults to 1 message per second unless the instance sets rateLimit', () => {
    const example = slackOutput.example!(exampleTarget('https://hooks.slack.com'));
    expect(parseOutputInstance('s', example).config.rateLimit).toEqual({ max: 1, per: 1000 });
    expect(parseOutputInstance('s', { ...example, rateLimit: { max: 5, per: '2s' } }).config.rateLimit).toEqual({ max: 5, per: 2000 });
  });

  it('posts through IncomingWebhook and turns a 429 into a retryable error carrying Retry-After', async () => {
    capture = await new CaptureServer().start();
    capture.respondWith({ status: 429, headers: { 'retry-after': '3' }, body: 'rate_limited' }, { status: 404, body: 'no_service' });
    const config = parseOutputInstance('slack', slackOutput.example!(capture.target()), slackOutput).config;
    const output = slackOutput.create(config, { name: 'slack', logger: pino({ level: 'silent' }) });
    const signal = new AbortController().signal;
    const limited = await output.send([fixture(8)], { signal }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(DeliveryError);
    expect(limited).toMatchObject({ retryable: true, status: 429, reason: 'rate_limited', retryAfterMs: 3000 });
    const gone = await output.send([fixture(8)], { signal }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ retryable: false, status: 404 });
    expect(String((gone as Error).message)).not.toContain('s3cr3t');
    await output.send([fixture(8)], { signal });
    expect(capture.requests).toHaveLength(3);
    await output.close?.();
    expect(capture.requests[2]!.headers['content-type']).toBe('application/json');
    expect((JSON.parse(capture.requests[2]!.body) as SlackMessage).attachments[0].color).toBe('#5bffb5');
  });
});
