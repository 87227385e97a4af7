import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { DeliveryError } from '../kit/errors.js';
import { webexOutput } from './index.js';
import { buildWebexMessage, escapeWebexMarkdown, truncateBytes, WEBEX_MAX_BYTES } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const json = (m: unknown) => `${JSON.stringify(m, null, 2)}\n`;
const ROOM = 'Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0';
const TOKEN = 's3cr3tWebexBotToken0123456789abcdefABCDEF_PF84_1eb65fdf';

describe('webex payload', () => {
  for (const [kind, alert] of Object.entries(alerts)) {
    it(`matches the golden message for ${kind}`, () => {
      expectGolden(golden(`${kind}.json`), json(buildWebexMessage(alert, { roomId: ROOM })));
    });
  }

  it('renders a digest natively: the summary in bold, where the alerts came from as a list', () => {
    const message = buildWebexMessage(digestFixture(), { roomId: ROOM });
    expectGolden(golden('digest.json'), json(message));
    expect(message.text).toBe('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(message.markdown).toMatch(/^\*\*Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC\*\*\n\n523 repeats suppressed by storm control after the first alert\n\nExample: /);
    expect(message.markdown).toContain('- **Pods**: nginx-7d9c-a ×200, nginx-7d9c-b ×150, nginx-7d9c-c ×80, nginx-7d9c-d ×40, nginx-7d9c-e ×20, 7 others ×33');
  });

  it('escapes Webex markdown so alert text neither restyles nor mentions', () => {
    const alert: Alert = { ...alerts.syscall, output: 'cmd=<NA> <@all> **b** [x](https://evil.example) a_b #1' };
    const m = buildWebexMessage(alert, { roomId: ROOM, mentions: ['<@all>'] });
    expect(m.markdown.split('\n\n')[0]).toBe('<@all>\n**Notice: Terminal shell in container**');
    expect(m.markdown.split('\n\n')[1]).toBe('cmd=\\<NA\\> \\<\u200b@all\\> \\*\\*b\\*\\* \\[x\\](https://evil.example) a\\_b \\#1');
    expect(escapeWebexMarkdown('- a\n1. b\n> c')).toBe('\\- a\n1\\. b\n\\> c');
    expect(buildWebexMessage({ ...alert, rule: '<@all> rule' }, { roomId: ROOM }).text).toBe('Notice: <\u200b@all> rule');
  });

  it('stays within 7,439 bytes of markdown for a huge multibyte alert, and says what it cut', () => {
    const output_fields: Alert['output_fields'] = {};
    for (let i = 0; i < 300; i++) output_fields[`f${String(i).padStart(3, '0')}`] = 'Ω'.repeat(50);
    const alert: Alert = { ...alerts.syscall, rule: 'Ж'.repeat(2000), output: '€*'.repeat(10_000), output_fields };
    const m = buildWebexMessage(alert, { roomId: ROOM });
    expect(Buffer.byteLength(m.markdown)).toBeLessThanOrEqual(WEBEX_MAX_BYTES);
    expect(Buffer.byteLength(m.text)).toBeLessThanOrEqual(WEBEX_MAX_BYTES);
    expect(m.markdown).toMatch(/_.*output truncated · \d+ more fields not shown_$/);
    expect(m.markdown).not.toMatch(/[^\\]\\…/);
    expect(truncateBytes('ΩΩΩ', 5)).toBe('Ω…');
  });

  it('sends to a person with toPersonEmail; exactly one destination and real mentions are required', () => {
    expect(buildWebexMessage(alerts.plugin, { toPersonEmail: 'soc@example.com' })).toMatchObject({ toPersonEmail: 'soc@example.com' });
    const base = { type: 'webex', token: 't' };
    expect(() => parseOutputInstance('w', base)).toThrow(/outputs\.w\.roomId: set exactly one of roomId/);
    expect(() => parseOutputInstance('w', { ...base, roomId: ROOM, toPersonEmail: 'a@b.co' })).toThrow(/outputs\.w\.roomId/);
    expect(() => parseOutputInstance('w', { ...base, roomId: ROOM, mentions: ['@all'] })).toThrow(/outputs\.w\.mentions: "@all" does not notify in Webex/);
    expect(() => parseOutputInstance('w', { ...base, roomId: ROOM, mentions: ['<@personEmail:alice@example.com>', '<@all>'] })).not.toThrow();
  });
});

describe('webex output', () => {
  let capture: CaptureServer | undefined;
  afterEach(async () => {
    await capture?.stop();
    capture = undefined;
  });
  const signal = () => new AbortController().signal;
  const webexError = (status: number, message: string, headers: Record<string, string> = {}) => ({
    status,
    headers: { 'content-type': 'application/json;charset=UTF-8', trackingid: 'ROUTER_6650B2D0-1C2A-01BB-0000-000000000000', ...headers },
    body: JSON.stringify({ message, errors: [{ description: message }], trackingId: 'ROUTER_6650B2D0-1C2A-01BB-0000-000000000000' }),
  });

  it('posts to <url>/v1/messages by default at https://webexapis.com, 1 per second', () => {
    const config = parseOutputInstance('w', { type: 'webex', token: 't', roomId: ROOM }).config;
    expect(config.url).toBe('https://webexapis.com');
    expect(config.rateLimit).toEqual({ max: 1, per: 1000 });
    expect(webexOutput.defaultOverflow).toBe('digest');
  });

  it('posts the exact message with the bearer token; 429 and 423 honour Retry-After, 401/404 fail for good without the token', async () => {
    capture = await new CaptureServer().start();
    capture.respondWith(
      { status: 200, headers: { 'content-type': 'application/json;charset=UTF-8' }, body: JSON.stringify({ id: 'Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTA', roomId: ROOM, roomType: 'group' }) },
      webexError(429, 'Too Many Requests', { 'retry-after': '14' }),
      webexError(423, 'Resource is locked', { 'retry-after': '2' }),
      webexError(401, 'The request requires a valid access token set in the Authorization request header.'),
      webexError(404, 'Could not find a room with provided ID.'),
    );
    const config = parseOutputInstance('webex', webexOutput.example!(capture.target()), webexOutput).config;
    const output = webexOutput.create(config, { name: 'webex', logger: pino({ level: 'silent' }) });
    await output.send([alerts.null_field], { signal: signal() });
    const limited = await output.send([alerts.null_field], { signal: signal() }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(DeliveryError);
    expect(limited).toMatchObject({ retryable: true, status: 429, reason: 'rate_limited', retryAfterMs: 14_000 });
    expect(await output.send([alerts.null_field], { signal: signal() }).catch((e: unknown) => e)).toMatchObject({ retryable: true, status: 423, retryAfterMs: 2000 });
    const auth = await output.send([alerts.null_field], { signal: signal() }).catch((e: unknown) => e);
    expect(auth).toMatchObject({ retryable: false, status: 401, reason: 'auth_error' });
    const room = await output.send([alerts.null_field], { signal: signal() }).catch((e: unknown) => e);
    expect(room).toMatchObject({ retryable: false, status: 404 });
    for (const err of [limited, auth, room]) expect(`${(err as Error).message}${(err as Error).stack}`).not.toContain(TOKEN);
    await output.close?.();
    const req = capture.requests[0]!;
    expect(req.path).toBe('/v1/messages');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req.body)).toEqual(buildWebexMessage(alerts.null_field, config));
  });
});
