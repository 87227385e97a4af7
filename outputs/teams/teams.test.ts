import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { CaptureServer, exampleTarget } from '../../test/helpers/capture-server.js';
import { fixtureAlertLines } from '../../test/helpers/fixtures.js';
import { teamsOutput } from './index.js';
import { buildTeamsBody, TEAMS_MAX_BODY_BYTES } from './payload.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';

const lines = fixtureAlertLines();
const fixture = (index: number): Alert => normalise([[`fixture-${index}`, lines[index]!]])[0]!;

const GOLDEN = { 'syscall-int64': 23, 'k8s-audit': 19, 'plugin-okta-unicode': 3, 'plugin-gcp-null': 4, 'internal-drops': 24 };

interface AdaptiveMessage {
  type: string;
  attachments: Array<{ contentType: string; contentUrl: null; content: { type: string; version: string; body: Array<Record<string, unknown>> } }>;
}

function hugeAlert(): Alert {
  const output_fields: Alert['output_fields'] = {};
  for (let i = 0; i < 400; i++) output_fields[`custom.f${i}`] = `"\u0001é`.repeat(200);
  return { ...fixture(23), output: '\u0000"\\ü'.repeat(50_000), output_fields }; // 200 K characters, worst-case JSON escapes
}

describe('Teams payload', () => {
  for (const [name, index] of Object.entries(GOLDEN)) {
    it(`matches the golden Adaptive Card for ${name}`, async () => {
      const body = JSON.parse(buildTeamsBody(fixture(index), { format: 'adaptive' })) as unknown;
      await expect(`${JSON.stringify(body, null, 2)}\n`).toMatchFileSnapshot(`golden/${name}.adaptive.json`);
    });
  }

  it('matches the golden MessageCard for a syscall alert', async () => {
    const body = JSON.parse(buildTeamsBody(fixture(23), { format: 'messagecard' })) as unknown;
    await expect(`${JSON.stringify(body, null, 2)}\n`).toMatchFileSnapshot('golden/syscall-int64.messagecard.json');
  });

  for (const format of ['adaptive', 'messagecard'] as const) {
    it(`renders a digest natively as a ${format} card`, async () => {
      const body = JSON.parse(buildTeamsBody(digestFixture(), { format })) as unknown;
      await expect(`${JSON.stringify(body, null, 2)}\n`).toMatchFileSnapshot(`golden/digest.${format}.json`);
      expect(JSON.stringify(body)).toContain('Drop and execute new binary in container ×523 on 12 pods in team2, 10:01:02–10:05:40 UTC');
    });
  }

  it('sends every fixture alert whole (no shrinking needed) and within the budget', () => {
    for (let i = 0; i < lines.length; i++) {
      const alert = fixture(i);
      const body = buildTeamsBody(alert, { format: 'adaptive' });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(TEAMS_MAX_BODY_BYTES);
      const card = (JSON.parse(body) as AdaptiveMessage).attachments[0]!.content;
      const facts = card.body.at(-1)!.facts as unknown[];
      expect(facts).toHaveLength(Object.keys(alert.output_fields).length + 4 + (alert.hostname ? 1 : 0) + (alert.tags.length > 0 ? 1 : 0));
    }
  });

  for (const format of ['adaptive', 'messagecard'] as const) {
    it(`keeps a 200 K-character alert with 400 fields under 25 KB as a valid ${format} card`, () => {
      const body = buildTeamsBody(hugeAlert(), { format });
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(TEAMS_MAX_BODY_BYTES);
      const parsed = JSON.parse(body) as Record<string, unknown>;
      if (format === 'adaptive') {
        const msg = parsed as unknown as AdaptiveMessage;
        expect(msg.type).toBe('message');
        expect(msg.attachments[0]!.contentType).toBe('application/vnd.microsoft.card.adaptive');
        const [title, output, factSet] = msg.attachments[0]!.content.body;
        expect(title!.color).toBe('Attention');
        expect(String(output!.text)).toMatch(/…$/);
        expect(factSet!.type).toBe('FactSet');
        expect(JSON.stringify(factSet)).toMatch(/\d+ more fields not shown/);
      } else {
        expect(parsed['@type']).toBe('MessageCard');
        expect(parsed.summary).toBeTruthy();
        expect(JSON.stringify(parsed.sections)).toMatch(/\d+ more fields not shown/);
      }
    });
  }

  it('colours the title by priority and honours the title template', () => {
    const colour = (i: number) => (JSON.parse(buildTeamsBody(fixture(i), { format: 'adaptive' })) as AdaptiveMessage).attachments[0]!.content.body[0]!.color;
    expect([colour(43), colour(9), colour(8), colour(24)]).toEqual(['Attention', 'Warning', 'Accent', 'Default']);
    const titled = JSON.parse(buildTeamsBody(fixture(23), { format: 'adaptive', title: '{{rule}} in {{output_fields.k8s.ns.name}}' })) as AdaptiveMessage;
    expect(titled.attachments[0]!.content.body[0]!.text).toBe('Drop and execute new binary in container in team2');
  });
});

describe('Teams output', () => {
  let capture: CaptureServer | undefined;
  afterEach(async () => {
    await capture?.stop();
    capture = undefined;
  });

  it('defaults to 4 requests per second', () => {
    expect(parseOutputInstance('t', teamsOutput.example!(exampleTarget('https://x.logic.azure.com'))).config.rateLimit).toEqual({ max: 4, per: 1000 });
  });

  it('treats a legacy connector 200 that reports throttling as a retryable error', async () => {
    capture = await new CaptureServer().start();
    capture.respondWith({ status: 200, body: 'Microsoft Teams endpoint returned HTTP error 429 with ContextId …' }, { status: 200, body: '1' });
    const config = parseOutputInstance('t', { ...teamsOutput.example!(capture.target()), format: 'messagecard' }, teamsOutput).config;
    const output = teamsOutput.create(config, { name: 't', logger: pino({ level: 'silent' }) });
    const signal = new AbortController().signal;
    await expect(output.send([fixture(8)], { signal })).rejects.toMatchObject({ retryable: true, reason: 'rate_limited' });
    await expect(output.send([fixture(8)], { signal })).resolves.toBeUndefined();
    expect((JSON.parse(capture.requests[1]!.body) as Record<string, unknown>)['@type']).toBe('MessageCard');
    await output.close?.();
  });
});
