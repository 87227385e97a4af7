import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { PRIORITIES } from '../../src/alert/priority.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { alertChatFields } from '../kit/chat-fields.js';
import { DeliveryError } from '../kit/errors.js';
import { discordOutput } from './index.js';
import { buildDiscordMessage, DISCORD_COLORS, DISCORD_LIMITS, escapeDiscordMarkdown, type DiscordEmbed, type DiscordMessage } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const json = (m: unknown) => `${JSON.stringify(m, null, 2)}\n`;
const embedChars = (e: DiscordEmbed) => e.title.length + (e.description?.length ?? 0) + e.footer.text.length + e.fields.reduce((n, f) => n + f.name.length + f.value.length, 0);

describe('discord payload', () => {
  for (const [kind, alert] of Object.entries(alerts)) {
    it(`matches the golden message for ${kind}`, () => {
      expectGolden(golden(`${kind}.json`), json(buildDiscordMessage(alert, {})));
    });
  }

  it('renders a digest natively: the summary as title, where the alerts came from as fields', () => {
    const message = buildDiscordMessage(digestFixture(), {});
    expectGolden(golden('digest.json'), json(message));
    const embed = message.embeds[0];
    expect(embed.title).toBe('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(embed.description).toContain('523 repeats suppressed by storm control');
    expect(embed.fields.find((f) => f.name === 'Pods')?.value).toBe('nginx-7d9c-a ×200, nginx-7d9c-b ×150, nginx-7d9c-c ×80, nginx-7d9c-d ×40, nginx-7d9c-e ×20, 7 others ×33');
    expect(embed.footer.text).toBe('digest digest-42-0123456789abcdef · 523 alerts');
  });

  it('colours by priority with the integer Discord wants', () => {
    for (const priority of PRIORITIES) {
      const embed = buildDiscordMessage({ ...alerts.syscall, priority }, {}).embeds[0];
      expect(embed.color).toBe(DISCORD_COLORS[priority]);
      expect(Number.isInteger(embed.color)).toBe(true);
    }
    expect(JSON.stringify(buildDiscordMessage(alerts.syscall, {}))).toMatch(/"color":\d+,/);
  });

  it('never lets alert text ping: allowed_mentions parse is empty and the text is escaped', () => {
    const alert: Alert = { ...alerts.syscall, rule: '@everyone *look*', output: '@everyone @here <@123456> <@&654321> [click](https://evil.example) `x` **y** ~~z~~ a|b' };
    const message = buildDiscordMessage(alert, {});
    expect(message.allowed_mentions).toEqual({ parse: [] });
    expect(message.content).toBeUndefined();
    expect(message.embeds[0].description).toBe('@everyone @here \\<@123456\\> \\<@&654321\\> \\[click\\](https://evil.example) \\`x\\` \\*\\*y\\*\\* \\~\\~z\\~\\~ a\\|b');
    expect(message.embeds[0].title).toBe('Notice: @everyone \\*look\\*');
    expect(escapeDiscordMarkdown('# heading\n- item\n-1\n> quote')).toBe('\\# heading\n\\- item\n-1\n\\> quote');
  });

  it('puts the configured mentions in content and only their ids in allowed_mentions', () => {
    const m = buildDiscordMessage(alerts.syscall, { mentions: ['<@111>', '<@!222>', '<@&333>'] });
    expect(m.content).toBe('<@111> <@!222> <@&333>');
    expect(m.allowed_mentions).toEqual({ parse: [], users: ['111', '222'], roles: ['333'] });
    expect(buildDiscordMessage(alerts.syscall, { mentions: ['@here'] }).allowed_mentions).toEqual({ parse: ['everyone'] });
    const example = discordOutput.example!({ host: 'h', port: 1, url: 'https://discord.com' });
    expect(() => parseOutputInstance('d', { ...example, mentions: ['@channel'] })).toThrow(/outputs\.d\.mentions: "@channel" does not ping in Discord/);
  });

  it('cuts a huge alert to Discord limits and says what it left out', () => {
    const output_fields: Alert['output_fields'] = {};
    for (let i = 0; i < 60; i++) output_fields[`custom.field${String(i).padStart(2, '0')}`] = 'v'.repeat(i === 0 ? 5000 : 30);
    output_fields['k'.repeat(400)] = 'long name';
    const alert: Alert = { ...alerts.syscall, rule: 'R'.repeat(400), output: '*'.repeat(10_000), output_fields };
    const embed = buildDiscordMessage(alert, {}).embeds[0];
    expect(embed.title.length).toBeLessThanOrEqual(DISCORD_LIMITS.title);
    expect(embed.description!.length).toBeLessThanOrEqual(DISCORD_LIMITS.description);
    expect(embed.description).toMatch(/^(\\\*)+…$/); // no lone backslash escaping the ellipsis
    expect(embed.fields.length).toBeLessThanOrEqual(DISCORD_LIMITS.fields);
    for (const f of embed.fields) {
      expect(f.name.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldName);
      expect(f.value.length).toBeLessThanOrEqual(DISCORD_LIMITS.fieldValue);
      expect(f.value.length).toBeGreaterThan(0);
    }
    expect(embedChars(embed)).toBeLessThanOrEqual(DISCORD_LIMITS.embedTotal);
    expect(embed.footer.text).toMatch(/output truncated · \d+ more fields not shown$/);
    const shown = embed.fields.length;
    const total = alertChatFields(alert).length;
    expect(embed.footer.text).toContain(`${total - shown} more fields not shown`);
  });

  it('uses the title and messageFormat templates, username and avatar', () => {
    const m = buildDiscordMessage(alerts.syscall, { title: '{{priority}} on {{hostname}}', messageFormat: '{{rule}} in {{namespace}}', username: 'Falconet', avatarUrl: 'https://example.com/a.png' });
    expect(m.embeds[0].title).toBe(`Notice on ${alerts.syscall.hostname}`);
    expect(m.embeds[0].description).toBe(`${alerts.syscall.rule} in ${String(alerts.syscall.output_fields['k8s.ns.name'])}`);
    expect(m).toMatchObject({ username: 'Falconet', avatar_url: 'https://example.com/a.png' });
  });
});

describe('discord output', () => {
  let capture: CaptureServer | undefined;
  afterEach(async () => {
    await capture?.stop();
    capture = undefined;
  });

  const start = async () => {
    capture = await new CaptureServer().start();
    const config = parseOutputInstance('discord', discordOutput.example!(capture.target()), discordOutput).config;
    return { config, output: discordOutput.create(config, { name: 'discord', logger: pino({ level: 'silent' }) }) };
  };
  const signal = () => new AbortController().signal;

  it('defaults to one message per 2 s (under 5/2 s per webhook and 30/min per channel), digest on overflow', () => {
    const config = parseOutputInstance('d', discordOutput.example!({ host: 'h', port: 1, url: 'https://discord.com' })).config;
    expect(config.rateLimit).toEqual({ max: 1, per: 2000 });
    expect(config.overflow?.mode ?? discordOutput.defaultOverflow).toBe('digest');
  });

  it('posts the exact message with ?wait=true and resolves on the 200 carrying the message', async () => {
    const { config, output } = await start();
    capture!.respondWith({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":"1200000000000000000","type":0,"channel_id":"1","webhook_id":"112233445566778899"}' });
    await output.send([alerts.k8s_audit], { signal: signal() });
    await output.close?.();
    const req = capture!.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/api/webhooks/112233445566778899/s3cr3tDiscordWebhookToken0123?wait=true');
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual(buildDiscordMessage(alerts.k8s_audit, config) as DiscordMessage);
    expect(JSON.parse(req.body).allowed_mentions).toEqual({ parse: [] });
  });

  it('takes a 429\'s wait from the JSON body (retry_after, seconds as a float) over the rounded headers', async () => {
    const { output } = await start();
    capture!.respondWith(
      {
        status: 429,
        headers: { 'content-type': 'application/json', 'retry-after': '2', 'x-ratelimit-reset-after': '1.234', 'x-ratelimit-scope': 'shared' },
        body: '{"message": "You are being rate limited.", "retry_after": 1.234, "global": false}',
      },
      { status: 429, headers: { 'retry-after': '9', 'x-ratelimit-reset-after': '0.75' }, body: '<html>cloudflare</html>' },
      { status: 429, headers: { 'retry-after': '5' }, body: '{"message": "You are being rate limited.", "retry_after": 64.57, "global": true}' },
    );
    const first = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(DeliveryError);
    expect(first).toMatchObject({ retryable: true, status: 429, reason: 'rate_limited', retryAfterMs: 1234 });
    expect(await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e)).toMatchObject({ retryable: true, retryAfterMs: 750 });
    const global = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(global).toMatchObject({ retryable: true, retryAfterMs: 64_570 });
    expect((global as Error).message).toContain('rate limited (global)');
    await output.close?.();
  });

  it('fails for good on an unknown webhook and invalid form body, never naming the token', async () => {
    const { output } = await start();
    capture!.respondWith(
      { status: 404, headers: { 'content-type': 'application/json' }, body: '{"message": "Unknown Webhook", "code": 10015}' },
      { status: 400, headers: { 'content-type': 'application/json' }, body: '{"code": 50035, "errors": {"embeds": {"0": {"fields": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH"}]}}}}, "message": "Invalid Form Body"}' },
    );
    const gone = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(gone).toMatchObject({ retryable: false, status: 404, reason: 'client_error' });
    const invalid = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ retryable: false, status: 400 });
    for (const err of [gone, invalid]) {
      expect(String((err as Error).message)).not.toContain('s3cr3tDiscordWebhookToken0123');
      expect(String((err as Error).stack)).not.toContain('s3cr3tDiscordWebhookToken0123');
    }
    await output.close?.();
  });
});
