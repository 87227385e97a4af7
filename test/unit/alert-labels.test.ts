import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';
import { buildConfig } from '../../src/config/load.js';

const text = (rule: string, ns?: string) =>
  JSON.stringify({ rule, priority: 'Warning', source: 'syscall', time: '2026-01-01T00:00:00Z', output_fields: ns ? { 'k8s.ns.name': ns } : {} });

describe('metrics.alertLabels', () => {
  it('by default falconet_alerts_received_total has no rule or namespace label', async () => {
    const metrics = createMetrics();
    metrics.countReceived([text('A', 'team1')], 'accepted');
    const [value] = (await metrics.received.get()).values;
    expect(value!.labels).toEqual({ source: 'syscall', priority: 'Warning', status: 'accepted' });
  });

  it('opt-in labels from alert fields, capped: values past the cap are counted as "other"', async () => {
    const config = buildConfig({ outputs: { o: { type: 'stdout' } }, routes: [{ outputs: ['o'] }], metrics: { alertLabels: ['rule', 'k8s.ns.name'], alertLabelValues: 2 } });
    const metrics = createMetrics({ alertLabels: { fields: config.metrics.alertLabels, maxValues: config.metrics.alertLabelValues } });
    metrics.countReceived([text('A', 'team1'), text('B', 'team2'), text('C', 'team3'), text('A', 'team1'), text('D')], 'accepted');
    metrics.countRefused('rejected');
    const values = (await metrics.received.get()).values.map((v) => [v.labels.rule, v.labels.k8s_ns_name, v.labels.status, v.value]);
    expect(values).toEqual([
      ['A', 'team1', 'accepted', 2],
      ['B', 'team2', 'accepted', 1],
      ['other', 'other', 'accepted', 2],
      ['unknown', 'unknown', 'rejected', 1],
    ]);
    // A distinct value set of at most cap + 1 per label, whatever arrives.
    expect(new Set(values.map((v) => v[0])).size).toBeLessThanOrEqual(4);
  });

  it('refuses more than 8 labels, naming the key', () => {
    expect(() => buildConfig({ outputs: { o: { type: 'stdout' } }, routes: [{ outputs: ['o'] }], metrics: { alertLabels: Array.from({ length: 9 }, (_, i) => `f${i}`) } })).toThrow(/metrics\.alertLabels/);
  });
});
