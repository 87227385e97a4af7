import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest } from '../helpers/capture-server.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

const SECRET = 'shared-hmac-secret';

/** What a receiver does: recompute the HMAC over timestamp + "." + raw body, compare in constant time. */
function verify(req: CapturedRequest, secret: string): boolean {
  const timestamp = req.headers['x-falconet-timestamp'] as string;
  const signature = req.headers['x-falconet-signature'] as string;
  const expected = `sha256=${createHmac('sha256', secret).update(`${timestamp}.${req.body}`).digest('hex')}`;
  return signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

describe('webhook with batch, NDJSON, HMAC signing and basic auth', () => {
  it('delivers one signed NDJSON request per batch that the receiver can verify', async () => {
    capture = await rig.capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          siem: {
            type: 'webhook',
            url: `${capture.url}/ingest`,
            batch: { size: 5, interval: '5s' },
            format: 'ndjson',
            signing: { secret: SECRET },
            auth: { username: 'falconet', password: 'p@ss' },
          },
        },
        routes: [{ outputs: ['siem'] }],
      }),
    );
    const lines = fixtureAlertLines().slice(0, 5);
    const res = await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' });
    expect(res.status).toBe(200);
    await waitFor(() => capture!.requests.length >= 1, { what: 'the batch' });

    expect(capture.requests).toHaveLength(1);
    const req = capture.requests[0]!;
    expect(req.headers['content-type']).toBe('application/x-ndjson');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('falconet:p@ss').toString('base64')}`);
    expect(verify(req, SECRET)).toBe(true);
    expect(verify(req, 'wrong-secret')).toBe(false);
    expect(req.body.endsWith('\n')).toBe(true);

    const docs = req.body.slice(0, -1).split('\n').map((l) => JSON.parse(l) as { id: string; rule: string });
    expect(docs.map((d) => d.rule)).toEqual(lines.map((l) => (JSON.parse(l) as { rule: string }).rule));
    expect(req.body).toContain('"evt.time":1749708161000000000');
    const ids = docs.map((d) => d.id).join(',');
    expect(req.headers['idempotency-key']).toBe(createHash('sha256').update(ids).digest('hex'));
  });

  it('keeps the single-alert JSON body when nothing is configured, with the alert id as Idempotency-Key', async () => {
    capture = await rig.capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { plain: { type: 'webhook', url: capture.url, auth: { bearer: 'tok-123' } } },
        routes: [{ outputs: ['plain'] }],
      }),
    );
    const line = fixtureAlertLines()[3]!;
    expect((await pipeline.post(line)).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 1, { what: 'the alert' });
    const req = capture.requests[0]!;
    const body = JSON.parse(req.body) as { id: string; output_fields: Record<string, unknown> };
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.authorization).toBe('Bearer tok-123');
    expect(req.headers['idempotency-key']).toBe(body.id);
    expect(req.headers['x-falconet-signature']).toBeUndefined();
    expect(body.output_fields['okta.actor.name']).toBe('Zoë Ångström');
  });
});
