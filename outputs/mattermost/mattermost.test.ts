import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { DeliveryError } from '../kit/errors.js';
import { mattermostOutput } from './index.js';
import { buildMattermostMessage, escapeMattermost, MATTERMOST_LIMITS } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const json = (m: unknown) => `${JSON.stringify(m, null, 2)}\n`;

describe('mattermost payload', () => {
  for (const [kind, alert] of Object.entries(alerts)) {
    it(`matches the golden message for ${kind}`, () => {
      expectGolden(golden(`${kind}.json`), json(buildMattermostMessage(alert, {})));
    });
  }

  it('renders a digest natively: the summary as title, where the alerts came from as fields', () => {
    const message = buildMattermostMessage(digestFixture(), {});
    expectGolden(golden('digest.json'), json(message));
    const a = message.attachments[0];
    expect(a.title).toBe('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(a.text).toMatch(/^523 repeats suppressed by storm control after the first alert\nExample: /);
    expect(a.fields.find((f) => f.title === 'Pods')?.value).toBe('nginx-7d9c-a ×200, nginx-7d9c-b ×150, nginx-7d9c-c ×80, nginx-7d9c-d ×40, nginx-7d9c-e ×20, 7 others ×33');
    expect(a.color).toBe('#ff5400');
  });

  it('is Slack-compatible: attachment with hex colour, title, text and short/long fields', () => {
    const m = buildMattermostMessage(alerts.syscall, {});
    const a = m.attachments[0];
    expect(a.color).toBe('#5bffb5');
    expect(a.fallback).toBe('Notice: Terminal shell in container');
    expect(a.fields.find((f) => f.title === 'Rule')).toEqual({ title: 'Rule', value: 'Terminal shell in container', short: true });
    expect(a.fields.find((f) => f.title === 'Tags')?.short).toBe(false);
    expect(m.text).toBeUndefined();
  });

  it('puts configured mentions in text, and no alert text can mention anyone', () => {
    const alert: Alert = { ...alerts.syscall, output: 'echo @channel @all @here to admin@example.com **bold** [x](https://evil.example)' };
    const m = buildMattermostMessage(alert, { mentions: ['@channel', '@oncall'] });
    expect(m.text).toBe('@channel @oncall');
    expect(m.attachments[0].text).toBe('echo @\u200bchannel @\u200ball @\u200bhere to admin@example.com \\*\\*bold\\*\\* \\[x\\](https://evil.example)');
    expect(escapeMattermost('# h\n1. item\n- item\n> q')).toBe('\\# h\n1\\. item\n\\- item\n\\> q');
    const example = mattermostOutput.example!({ host: 'h', port: 1, url: 'https://mm.example.com' });
    expect(() => parseOutputInstance('m', { ...example, mentions: ['<!channel>'] })).toThrow(/outputs\.m\.mentions: "<!channel>" does not notify in Mattermost/);
  });

  it('sets channel, username and icon_url when configured, and the templates', () => {
    const m = buildMattermostMessage(alerts.k8s_audit, { channel: 'security', username: 'Falconet', iconUrl: 'https://example.com/falco.png', title: '{{priority}} {{rule}}', messageFormat: '{{output}} ({{namespace}})' });
    expect(m).toMatchObject({ channel: 'security', username: 'Falconet', icon_url: 'https://example.com/falco.png' });
    expect(m.attachments[0].title).toBe(`Notice ${alerts.k8s_audit.rule.replace(/[/]/g, '/')}`);
    expect(m.attachments[0].text!.endsWith(')')).toBe(true);
  });

  it('cuts a huge alert and says so in the footer', () => {
    const output_fields: Alert['output_fields'] = {};
    for (let i = 0; i < 100; i++) output_fields[`f${String(i).padStart(3, '0')}`] = i === 0 ? 'x'.repeat(5000) : 'v';
    const alert: Alert = { ...alerts.syscall, output: '*'.repeat(20_000), output_fields };
    const a = buildMattermostMessage(alert, {}).attachments[0];
    expect(a.text!.length).toBeLessThanOrEqual(MATTERMOST_LIMITS.attachmentText);
    expect(a.text).toMatch(/^(\\\*)+…$/);
    expect(a.fields).toHaveLength(MATTERMOST_LIMITS.fields);
    for (const f of a.fields) expect(f.value.length).toBeLessThanOrEqual(MATTERMOST_LIMITS.fieldValue);
    expect(a.footer).toMatch(/output truncated · \d+ more fields not shown$/);
  });
});

describe('mattermost output', () => {
  let capture: CaptureServer | undefined;
  afterEach(async () => {
    await capture?.stop();
    capture = undefined;
  });
  const signal = () => new AbortController().signal;

  it('defaults to 10 posts per second (Mattermost\'s rate-limit default) and digests on overflow', () => {
    const config = parseOutputInstance('m', mattermostOutput.example!({ host: 'h', port: 1, url: 'https://mm.example.com' })).config;
    expect(config.rateLimit).toEqual({ max: 10, per: 1000 });
    expect(mattermostOutput.defaultOverflow).toBe('digest');
  });

  it('posts the exact message; 429 with Retry-After retries, a disabled hook fails for good without the key', async () => {
    capture = await new CaptureServer().start();
    capture.respondWith(
      { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' },
      { status: 429, headers: { 'x-ratelimit-limit': '10', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1', 'retry-after': '1' }, body: 'limit exceeded\n' },
      { status: 400, headers: { 'content-type': 'application/json' }, body: '{"id":"web.incoming_webhook.disabled.app_error","message":"Incoming webhooks have been disabled by the system admin.","status_code":400}' },
    );
    const config = parseOutputInstance('mattermost', { ...mattermostOutput.example!(capture.target()), mentions: ['@channel'], channel: 'falco' }, mattermostOutput).config;
    const output = mattermostOutput.create(config, { name: 'mattermost', logger: pino({ level: 'silent' }) });
    await output.send([alerts.plugin], { signal: signal() });
    const limited = await output.send([alerts.plugin], { signal: signal() }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(DeliveryError);
    expect(limited).toMatchObject({ retryable: true, status: 429, reason: 'rate_limited', retryAfterMs: 1000 });
    const disabled = await output.send([alerts.plugin], { signal: signal() }).catch((e: unknown) => e);
    expect(disabled).toMatchObject({ retryable: false, status: 400 });
    expect(String((disabled as Error).message)).not.toContain('s3cr3tm4ttermostHookKey0123');
    await output.close?.();
    const req = capture.requests[0]!;
    expect(req.path).toBe('/hooks/s3cr3tm4ttermostHookKey0123');
    expect(req.headers['content-type']).toBe('application/json');
    const body = JSON.parse(req.body) as Record<string, unknown>;
    expect(body).toEqual(buildMattermostMessage(alerts.plugin, config));
    expect(body).toMatchObject({ text: '@channel', channel: 'falco' });
  });
});
