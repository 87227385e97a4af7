import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { buildBulkBody, bulkOutcome, indexName } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const all = Object.values(alerts);

describe('elasticsearch bulk payload', () => {
  it('create action with _id and a document with @timestamp per alert, trailing newline', () => {
    const body = buildBulkBody(all, { index: 'falco-%Y.%m.%d' });
    expectGolden(golden('bulk-index.ndjson'), body);
    expect(body.endsWith('\n')).toBe(true);
    const lines = body.slice(0, -1).split('\n');
    expect(lines).toHaveLength(all.length * 2);
    expect(JSON.parse(lines[0]!)).toEqual({ create: { _index: 'falco-2025.06.12', _id: alerts.syscall.id } });
    expect(lines[1]!.startsWith(`{"@timestamp":"${alerts.syscall.time}","id":"${alerts.syscall.id}"`)).toBe(true);
    expect(body).toContain('"evt.time":1749716043412907117');
    expect(body).toContain('Zoë Ångström');
    expect(body).toContain('"proc.aname[4]":null');
  });

  it('data stream: every action targets the stream', () => {
    const body = buildBulkBody([alerts.internal, alerts.k8s_audit], { dataStream: 'logs-falco-default' });
    expectGolden(golden('bulk-datastream.ndjson'), body);
    expect(body.split('\n').filter((_, i) => i % 2 === 0 && _ !== '').every((l) => l.includes('"_index":"logs-falco-default"'))).toBe(true);
  });

  it('index pattern takes the date of the alert, in UTC', () => {
    expect(indexName('falco-%Y.%m.%d-%H%%', { ...alerts.plugin, time: '2025-12-31T23:59:59.999999999Z' })).toBe('falco-2025.12.31-23%');
  });

  it('bulk answer: 409 delivered, 429/5xx retried, other item errors rejected with type and reason', () => {
    const [a, b, c, d, e] = all;
    const answer = JSON.stringify({
      errors: true,
      items: [
        { create: { status: 201 } },
        { create: { status: 409, error: { type: 'version_conflict_engine_exception', reason: 'exists' } } },
        { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } },
        { create: { status: 400, error: { type: 'document_parsing_exception', reason: 'failed to parse field [x]' } } },
        { create: { status: 503, error: { type: 'unavailable_shards_exception', reason: 'primary shard is not active' } } },
      ],
    });
    expect(bulkOutcome([a!, b!, c!, d!, e!], answer)).toEqual({
      retry: [c, e],
      rejected: [{ alert: d, reason: 'document_parsing_exception: failed to parse field [x]' }],
    });
    expect(bulkOutcome([a!], '{"errors":false,"items":[{"create":{"status":201}}]}')).toBeUndefined();
    expect(() => bulkOutcome([a!, b!], '{"errors":true,"items":[]}')).toThrow(/0 items for 2/);
    expect(() => bulkOutcome([a!], '{"errors":true,"items":')).toThrow();
    // A 2xx that is not a failed bulk answer counts as delivered, as any 2xx does.
    expect(bulkOutcome([a!], '')).toBeUndefined();
    expect(bulkOutcome([a!], '{}')).toBeUndefined();
  });
});
