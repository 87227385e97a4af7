import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { apiUrl } from '../kit/url.js';

const hecEndpoint = (url: string) => apiUrl(url, '/services/collector/event', ['/services/collector']);
import { buildHecBody, epochSeconds, hecPartialFailure } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();
const all = Object.values(alerts);

describe('splunk HEC payload', () => {
  it('concatenates one envelope per alert, one per line, with Falco time to the nanosecond', () => {
    const body = buildHecBody(all, { sourcetype: 'falco', index: 'security' });
    expectGolden(golden('batch.hec'), body);
    const lines = body.slice(0, -1).split('\n');
    expect(lines).toHaveLength(all.length);
    // syscall alert time 2025-06-12T08:14:03.412907117Z
    expect(lines[0]!.startsWith('{"time":1749716043.412907117,"host":"ip-10-0-12-34.ec2.internal","source":"falco"')).toBe(true);
    expect(body).toContain('"evt.time":1749713459412000000');
    expect(body).toContain('Zoë Ångström');
  });

  it('indexed fields: namespace from k8s.ns.name or ka.target.namespace, none for plugins', () => {
    const body = buildHecBody([alerts.k8s_audit, alerts.plugin], { sourcetype: 'falco' });
    const [audit, plugin] = body.trim().split('\n').map((l) => JSON.parse(l.replace(/:(\d{16,})/g, ':"$1"')) as { fields: Record<string, string>; index?: string });
    expect(audit!.fields).toEqual({ rule: 'Attach/Exec Pod', priority: 'Notice', namespace: 'team1', alert_id: alerts.k8s_audit.id, falco_source: 'k8s_audit' });
    expect(plugin!.fields.namespace).toBeUndefined();
    expect(plugin!.index).toBeUndefined();
  });

  it('epoch seconds keep all nine fraction digits', () => {
    expect(epochSeconds(1749716043412907117n)).toBe('1749716043.412907117');
    expect(epochSeconds(5n)).toBe('0.000000005');
  });

  it('400 with invalid-event-number N: N rejected, the ones after it retried, the ones before accepted', () => {
    const body = JSON.stringify({ text: 'Invalid data format', code: 6, 'invalid-event-number': 2 });
    const result = hecPartialFailure(all, 400, body)!;
    expect(result.rejected).toEqual([{ alert: all[2], reason: 'Splunk HEC: Invalid data format (code 6)' }]);
    expect(result.retry).toEqual(all.slice(3));
    expect(hecPartialFailure(all, 400, '{"text":"Incorrect index","code":7}')).toBeUndefined();
    expect(hecPartialFailure(all, 503, '{"text":"Server is busy","code":9}')).toBeUndefined();
    expect(hecPartialFailure(all, 400, JSON.stringify({ text: 'x', 'invalid-event-number': 99 }))).toBeUndefined();
  });

  it('appends the event endpoint unless the URL ends with it or its documented alias', () => {
    expect(hecEndpoint('https://splunk:8088')).toBe('https://splunk:8088/services/collector/event');
    expect(hecEndpoint('https://gw/splunk')).toBe('https://gw/splunk/services/collector/event');
    expect(hecEndpoint('https://splunk:8088/services/collector')).toBe('https://splunk:8088/services/collector');
  });
});
