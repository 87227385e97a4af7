import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { CaptureServer } from '../../test/helpers/capture-server.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { isDeliveryError } from '../kit/errors.js';
import type { Output } from '../kit/types.js';
import { otlpOutput } from './index.js';
import { DEFAULT_RESOURCE, anyValue, buildExportRequest, logRecord, partialOutcome, partialSuccess, type KeyValue } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const all = Object.values(alerts);
const OBSERVED = 1_764_633_600_123_456_789n;
const attr = (attrs: KeyValue[], key: string) => attrs.find((kv) => kv.key === key)?.value;

describe('otlp payload', () => {
  it('matches the golden request for the fixture alerts', () => {
    const request = buildExportRequest(all, { resource: DEFAULT_RESOURCE, observedNanos: OBSERVED });
    expectGolden(golden('batch.json'), `${JSON.stringify(request, null, 2)}\n`);
  });

  it('takes timeUnixNano from the alert time to the nanosecond, as a decimal string', () => {
    const record = logRecord(alerts.syscall, OBSERVED);
    expect(record.timeUnixNano).toBe('1749716043412907117'); // 2025-06-12T08:14:03.412907117Z
    expect(record.observedTimeUnixNano).toBe('1764633600123456789');
    expect(logRecord({ ...alerts.syscall, time: '1969-12-31T23:59:59Z' }, OBSERVED).timeUnixNano).toBe('0');
  });

  it('maps priority to the OTel data model\'s syslog severities, keeping Falco\'s name as severityText', () => {
    const numbers = Object.fromEntries(
      (['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const).map((p) => {
        const r = logRecord({ ...alerts.syscall, priority: p }, OBSERVED);
        expect(r.severityText).toBe(p);
        return [p, r.severityNumber];
      }),
    );
    expect(numbers).toEqual({ Emergency: 21, Alert: 19, Critical: 18, Error: 17, Warning: 13, Notice: 10, Informational: 9, Debug: 5 });
  });

  it('types the attributes: int64 as exact strings, doubles, bools, null as the empty value, lists', () => {
    const attrs = logRecord(alerts.syscall, OBSERVED).attributes;
    expect(attr(attrs, 'evt.time')).toEqual({ intValue: '1749716043412907117' });
    expect(attr(attrs, 'proc.tty')).toEqual({ intValue: '34816' });
    expect(attr(attrs, 'user.loginuid')).toEqual({ intValue: '-1' });
    expect(attr(attrs, 'proc.name')).toEqual({ stringValue: 'bash' });
    expect(attr(attrs, 'falco.rule')).toEqual({ stringValue: 'Terminal shell in container' });
    expect(attr(attrs, 'falco.priority')).toEqual({ stringValue: 'Notice' });
    expect(attr(attrs, 'falco.source')).toEqual({ stringValue: 'syscall' });
    expect(attr(attrs, 'falco.hostname')).toEqual({ stringValue: 'ip-10-0-12-34.ec2.internal' });
    expect(attr(attrs, 'falco.tags')).toEqual({ arrayValue: { values: ['T1059', 'container', 'maturity_stable', 'mitre_execution', 'shell'].map((t) => ({ stringValue: t })) } });
    expect(attr(attrs, 'falconet.alert_id')).toEqual({ stringValue: alerts.syscall.id });
    expect(anyValue(0.25)).toEqual({ doubleValue: 0.25 });
    expect(anyValue(true)).toEqual({ boolValue: true });
    expect(anyValue(null)).toEqual({});
    expect(anyValue(2n ** 63n - 1n)).toEqual({ intValue: '9223372036854775807' });
    // A uint64 past int64 cannot be an intValue: kept exact as a string.
    expect(anyValue(18446744073709551615n)).toEqual({ stringValue: '18446744073709551615' });
    expect(anyValue(['a', 1])).toEqual({ arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }] } });
    expect(anyValue({ k: 'v' })).toEqual({ kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } });
    const nullField = Object.entries(alerts.null_field.output_fields).find(([, v]) => v === null)![0];
    expect(attr(logRecord(alerts.null_field, OBSERVED).attributes, nullField)).toEqual({});
  });

  it('keeps attribute keys unique: an output field named like a falco.* attribute gives way', () => {
    const alert: Alert = { ...alerts.syscall, output_fields: { 'falco.rule': 'spoofed', 'proc.name': 'sh' } };
    const attrs = logRecord(alert, OBSERVED).attributes;
    expect(attrs.filter((kv) => kv.key === 'falco.rule')).toEqual([{ key: 'falco.rule', value: { stringValue: alert.rule } }]);
    expect(new Set(attrs.map((kv) => kv.key)).size).toBe(attrs.length);
  });

  it('puts the body as the output text and one ResourceLogs per host with service.name and host.name', () => {
    const request = buildExportRequest([alerts.syscall, alerts.k8s_audit, alerts.syscall], { resource: DEFAULT_RESOURCE, observedNanos: OBSERVED });
    expect(request.resourceLogs).toHaveLength(2);
    const [first, second] = request.resourceLogs;
    expect(first!.resource.attributes).toEqual([
      { key: 'service.name', value: { stringValue: 'falco' } },
      { key: 'host.name', value: { stringValue: 'ip-10-0-12-34.ec2.internal' } },
    ]);
    expect(first!.scopeLogs[0]!.scope).toEqual({ name: 'falconet' });
    expect(first!.scopeLogs[0]!.logRecords).toHaveLength(2);
    expect(first!.scopeLogs[0]!.logRecords[0]!.body).toEqual({ stringValue: alerts.syscall.output });
    expect(attr(second!.resource.attributes, 'host.name')).toEqual({ stringValue: alerts.k8s_audit.hostname });
    const custom = buildExportRequest([alerts.syscall], { resource: { 'service.name': 'falco-prod', 'deployment.environment.name': 'prod', 'host.name': 'pinned' }, observedNanos: OBSERVED });
    expect(custom.resourceLogs[0]!.resource.attributes.map((kv) => [kv.key, kv.value])).toEqual([
      ['service.name', { stringValue: 'falco-prod' }],
      ['deployment.environment.name', { stringValue: 'prod' }],
      ['host.name', { stringValue: 'pinned' }],
    ]);
  });

  it('reads partialSuccess: all rejected → every alert rejected; some → none named (the answer cannot say which)', () => {
    const three = all.slice(0, 3);
    expect(partialSuccess('{}')).toBeUndefined();
    expect(partialSuccess('{"partialSuccess":{}}')).toBeUndefined();
    expect(partialSuccess('not json')).toBeUndefined();
    const some = partialSuccess('{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 records too old"}}')!;
    expect(some).toEqual({ rejected: 2, message: '2 records too old' });
    expect(partialOutcome(three, some)).toBeUndefined();
    const every = partialSuccess('{"partialSuccess":{"rejectedLogRecords":3,"errorMessage":"bad severity"}}')!;
    expect(partialOutcome(three, every)!.rejected).toEqual(three.map((alert) => ({ alert, reason: 'OTLP receiver rejected the log records: bad severity' })));
    expect(partialSuccess('{"partialSuccess":{"errorMessage":"deprecated field"}}')).toEqual({ rejected: 0, message: 'deprecated field' });
  });
});

describe('otlp send (a capture server answering like an OTLP/HTTP receiver)', () => {
  let server: CaptureServer | undefined;
  let output: Output | undefined;
  afterEach(async () => {
    await output?.close?.();
    await server?.stop();
  });

  const json = { 'content-type': 'application/json' };
  /** google.rpc.Status, the body of an OTLP/HTTP failure. */
  const status = (code: number, message: string) => JSON.stringify({ code, message });

  it('posts to <url>/v1/logs with the configured headers; partial success, 429, 503 and 400 answered as OTLP says', async () => {
    server = await new CaptureServer().start();
    const logs: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({ write: (c: Buffer, _e, done) => (logs.push(c.toString()), done()) }));
    const inst = parseOutputInstance('otel', { type: 'otlp', url: server.url, headers: { 'X-Tenant': 'sec' }, resource: { 'service.name': 'falco-eu' } }, otlpOutput);
    expect(inst.batchSize).toBe(100);
    output = otlpOutput.create(inst.config, { name: 'otel', logger });
    const batch = all.slice(0, 3);
    const signal = AbortSignal.timeout(5000);
    server.respondWith(
      { status: 200, headers: json, body: '{}' },
      { status: 200, headers: json, body: '{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"1 record dropped"}}' },
      { status: 200, headers: json, body: '{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"unknown severity"}}' },
      { status: 429, headers: { ...json, 'retry-after': '3' }, body: status(8, 'too many requests') },
      { status: 503, headers: { ...json, 'retry-after': '2' }, body: status(14, 'memory limiter refused') },
      { status: 400, headers: json, body: status(3, 'invalid JSON payload') },
    );

    expect(await output.send(batch, { signal })).toBeUndefined();
    const req = server.requests[0]!;
    expect(req.path).toBe('/v1/logs');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-tenant']).toBe('sec');
    const body = JSON.parse(req.body) as ReturnType<typeof buildExportRequest>;
    expect(body.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords))).toHaveLength(3);
    expect(attr(body.resourceLogs[0]!.resource.attributes, 'service.name')).toEqual({ stringValue: 'falco-eu' });
    expect(req.body).toContain('"intValue":"1749716043412907117"');

    expect(await output.send(batch, { signal })).toBeUndefined();
    expect(logs.join('')).toContain('"rejected":1');
    expect((await output.send(batch, { signal }))!.rejected).toHaveLength(3);

    const limited = await output.send(batch, { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(limited) && limited.retryable && limited.retryAfterMs === 3000).toBe(true);
    const busy = await output.send(batch, { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(busy) && busy.retryable && busy.retryAfterMs === 2000).toBe(true);
    const invalid = await output.send(batch, { signal }).catch((e: unknown) => e);
    expect(isDeliveryError(invalid) && !invalid.retryable && /invalid JSON payload/.test(invalid.message)).toBe(true);
  });
});
