import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { DeliveryError } from '../kit/errors.js';
import { googlechatOutput } from './index.js';
import { buildGoogleChatMessage, GOOGLECHAT_MAX_BODY_BYTES, type GoogleChatMessage } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const json = (m: unknown) => `${JSON.stringify(m, null, 2)}\n`;
type Widget = GoogleChatMessage['cardsV2'][0]['card']['sections'][number]['widgets'][number];
const texts = (m: GoogleChatMessage): string[] =>
  m.cardsV2[0].card.sections.flatMap((s) => s.widgets.map((w: Widget) => ('textParagraph' in w ? w.textParagraph.text : `${w.decoratedText.topLabel}=${w.decoratedText.text}`)));

describe('googlechat payload', () => {
  for (const [kind, alert] of Object.entries(alerts)) {
    it(`matches the golden message for ${kind}`, () => {
      expectGolden(golden(`${kind}.json`), json(buildGoogleChatMessage(alert, {})));
    });
  }

  it('renders a digest natively, in the thread of its rule', () => {
    const message = buildGoogleChatMessage(digestFixture(), {});
    expectGolden(golden('digest.json'), json(message));
    expect(message.cardsV2[0].card.header.title).toBe('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    expect(texts(message)).toContain('Pods=nginx-7d9c-a ×200, nginx-7d9c-b ×150, nginx-7d9c-c ×80, nginx-7d9c-d ×40, nginx-7d9c-e ×20, 7 others ×33');
    expect(message.thread).toEqual({ threadKey: 'Drop and execute new binary in container' });
  });

  it('gives each rule one thread by default, or the threadKey template, or none', () => {
    expect(buildGoogleChatMessage(alerts.syscall, {}).thread).toEqual({ threadKey: alerts.syscall.rule });
    expect(buildGoogleChatMessage(alerts.syscall, { threadKey: '{{rule}}/{{namespace}}' }).thread).toEqual({ threadKey: `${alerts.syscall.rule}/team1` });
    expect(buildGoogleChatMessage(alerts.syscall, { threading: false }).thread).toBeUndefined();
  });

  it('escapes card HTML and keeps alert text from mentioning in text', () => {
    const alert: Alert = { ...alerts.syscall, rule: '<users/all> *x*', output: 'cmd=<NA> a && b <font color="red">' };
    const m = buildGoogleChatMessage(alert, { mentions: ['<users/all>'] });
    expect(m.text).toBe('<users/all> Notice: <\u200busers/all> *\u200bx*\u200b');
    expect(texts(m)[0]).toBe('cmd=&lt;NA&gt; a &amp;&amp; b &lt;font color="red"&gt;');
    const example = googlechatOutput.example!({ host: 'h', port: 1, url: 'https://chat.googleapis.com' });
    expect(() => parseOutputInstance('g', { ...example, mentions: ['@all'] })).toThrow(/outputs\.g\.mentions: "@all" does not notify in Google Chat/);
  });

  it('has a header, the output, decoratedText fields and a coloured priority', () => {
    const m = buildGoogleChatMessage(alerts.syscall, {});
    const card = m.cardsV2[0].card;
    expect(card.header).toEqual({ title: 'Notice: Terminal shell in container', subtitle: `${alerts.syscall.hostname} · syscall · ${alerts.syscall.time}` });
    expect(card.sections[1]).toMatchObject({ header: 'Fields', collapsible: true, uncollapsibleWidgetsCount: 6 });
    expect(texts(m)).toContain('Priority=<font color="#5bffb5"><b>Notice</b></font>');
    expect(texts(m)).toContain('evt.time=1749716043412907117');
    expect(m.text).toBe('Notice: Terminal shell in container');
  });

  it('fits a huge alert into the message budget and says what it cut', () => {
    const output_fields: Alert['output_fields'] = {};
    for (let i = 0; i < 200; i++) output_fields[`f${String(i).padStart(3, '0')}`] = '<'.repeat(300);
    const alert: Alert = { ...alerts.syscall, output: '<'.repeat(50_000), output_fields };
    const m = buildGoogleChatMessage(alert, {});
    expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(GOOGLECHAT_MAX_BODY_BYTES);
    expect(texts(m)[0]).toMatch(/^(&lt;)+…$/);
    expect(texts(m).at(-1)).toMatch(/output truncated · \d+ more fields not shown<\/font>$/);
  });
});

describe('googlechat output', () => {
  let capture: CaptureServer | undefined;
  afterEach(async () => {
    await capture?.stop();
    capture = undefined;
  });
  const signal = () => new AbortController().signal;
  const googleError = (code: number, status: string, message: string) => ({
    status: code,
    headers: { 'content-type': 'application/json; charset=UTF-8' },
    body: JSON.stringify({ error: { code, message, status } }),
  });

  it('defaults to 1 message per second (the per-space quota) and digests on overflow', () => {
    const config = parseOutputInstance('g', googlechatOutput.example!({ host: 'h', port: 1, url: 'https://chat.googleapis.com' })).config;
    expect(config.rateLimit).toEqual({ max: 1, per: 1000 });
    expect(googlechatOutput.defaultOverflow).toBe('digest');
  });

  it('posts the exact message with messageReplyOption; quota 429 retries, a bad card fails, never naming key or token', async () => {
    capture = await new CaptureServer().start();
    capture.respondWith(
      { status: 200, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: '{"name":"spaces/AAAAb3xq5Ko/messages/abc.abc","thread":{"name":"spaces/AAAAb3xq5Ko/threads/abc","threadKey":"Terminal shell in container"}}' },
      googleError(429, 'RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per space'"),
      googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Unknown name "cardz": Cannot find field.'),
      googleError(403, 'PERMISSION_DENIED', 'The caller does not have permission'),
    );
    const config = parseOutputInstance('googlechat', googlechatOutput.example!(capture.target()), googlechatOutput).config;
    const output = googlechatOutput.create(config, { name: 'googlechat', logger: pino({ level: 'silent' }) });
    await output.send([alerts.syscall], { signal: signal() });
    const quota = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(quota).toBeInstanceOf(DeliveryError);
    expect(quota).toMatchObject({ retryable: true, status: 429, reason: 'rate_limited' });
    expect((quota as Error).message).toContain('RESOURCE_EXHAUSTED');
    const invalid = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ retryable: false, status: 400, reason: 'client_error' });
    const denied = await output.send([alerts.syscall], { signal: signal() }).catch((e: unknown) => e);
    expect(denied).toMatchObject({ retryable: false, status: 403, reason: 'auth_error' });
    for (const err of [quota, invalid, denied]) {
      for (const secret of ['s3cr3tGoogleChatApiKey0123', 's3cr3tGoogleChatToken4567']) expect(`${(err as Error).message}${(err as Error).stack}`).not.toContain(secret);
    }
    await output.close?.();
    const req = capture.requests[0]!;
    const url = new URL(req.path, capture.url);
    expect(url.pathname).toBe('/v1/spaces/AAAAb3xq5Ko/messages');
    expect(Object.fromEntries(url.searchParams)).toEqual({ key: 's3cr3tGoogleChatApiKey0123', token: 's3cr3tGoogleChatToken4567', messageReplyOption: 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD' });
    expect(req.headers['content-type']).toBe('application/json; charset=UTF-8');
    expect(JSON.parse(req.body)).toEqual(buildGoogleChatMessage(alerts.syscall, config));
    expect(JSON.parse(req.body).thread).toEqual({ threadKey: 'Terminal shell in container' });
  });

  it('threading: false posts to the webhook URL as given, without a thread', async () => {
    capture = await new CaptureServer().start();
    const config = parseOutputInstance('googlechat', { ...googlechatOutput.example!(capture.target()), threading: false }, googlechatOutput).config;
    const output = googlechatOutput.create(config, { name: 'googlechat', logger: pino({ level: 'silent' }) });
    await output.send([alerts.k8s_audit], { signal: signal() });
    await output.close?.();
    expect(new URL(capture.requests[0]!.path, capture.url).searchParams.has('messageReplyOption')).toBe(false);
    expect(JSON.parse(capture.requests[0]!.body).thread).toBeUndefined();
  });
});
