import { createHmac } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { buildWebhookBody, idempotencyKey, renderBodyTemplate, signBody } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const all = Object.values(alerts);

describe('webhook payload', () => {
  for (const [kind, alert] of Object.entries(alerts)) {
    it(`single ${kind} alert: the alert object, exactly`, () => {
      expectGolden(golden(`single-${kind}.json`), buildWebhookBody([alert], { batched: false, format: 'json' }));
    });
  }

  it('batch as a JSON array and as NDJSON with a trailing newline', () => {
    const array = buildWebhookBody(all, { batched: true, format: 'json' });
    const ndjson = buildWebhookBody(all, { batched: true, format: 'ndjson' });
    expectGolden(golden('batch.json'), array);
    expectGolden(golden('batch.ndjson'), ndjson);
    expect(ndjson.endsWith('}\n')).toBe(true);
    expect(ndjson.split('\n')).toHaveLength(all.length + 1);
    // int64 evt.time written back digit for digit, unicode unescaped.
    expect(array).toContain('"evt.time":1749713459412000000');
    expect(array).toContain('Zoë Ångström');
  });

  it('idempotency key: the alert id alone, sha256 of the joined ids for a batch', () => {
    expect(idempotencyKey([alerts.syscall])).toBe(alerts.syscall.id);
    const key = idempotencyKey(all);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(idempotencyKey([...all].reverse())).not.toBe(key);
  });

  it('signature is sha256=HMAC(secret, timestamp.body), recomputable by a receiver', () => {
    const body = buildWebhookBody([alerts.unicode], { batched: false, format: 'json' });
    const expected = createHmac('sha256', 'k').update(`1700000000.${body}`).digest('hex');
    expect(signBody('k', '1700000000', body)).toBe(`sha256=${expected}`);
    expect(signBody('other', '1700000000', body)).not.toBe(`sha256=${expected}`);
  });

  it('body template escapes alert text for JSON and exposes dotted output fields', () => {
    const template = '{"text":"{{rule}} on {{hostname}}: {{output}}","ns":"{{fields.k8s_ns_name}}","alert":{{{json}}}}';
    const rendered = renderBodyTemplate(template, alerts.null_field);
    expectGolden(golden('template-null_field.json'), rendered);
    const parsed = JSON.parse(rendered.replace(/:(\d{16,})/g, ':"$1"')) as { text: string; ns: string };
    expect(parsed.text).toContain(alerts.null_field.output!);
    expect(parsed.ns).toBe(alerts.null_field.output_fields['k8s.ns.name']);
  });
});
