import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createMetrics } from '../../src/observability/metrics.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dashboard = JSON.parse(readFileSync(`${root}deploy/grafana/falconet.json`, 'utf8')) as {
  panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ definition?: string }> };
};
const exprs = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: p.title, expr: t.expr }))),
  ...dashboard.templating.list.filter((v) => v.definition).map((v) => ({ where: 'variable', expr: v.definition! })),
];

/** Metric families a Falconet /metrics serves (collector and worker share one registry definition), with their labels. */
async function exported(): Promise<Map<string, Set<string>>> {
  const metrics = createMetrics();
  const families = new Map<string, Set<string>>();
  const text = await metrics.registry.metrics();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const names = type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : type === 'summary' ? [name!, `${name}_sum`, `${name}_count`] : [name!];
    for (const n of names) families.set(n, new Set(type === 'histogram' ? ['le'] : []));
  }
  // Labels each family declares (prom-client keeps them on the metric objects).
  for (const m of metrics.registry.getMetricsAsArray() as unknown as Array<{ name: string; labelNames?: string[]; type?: string }>) {
    for (const n of [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]) {
      for (const l of m.labelNames ?? []) families.get(n)?.add(l);
    }
  }
  return families;
}

describe('deploy/grafana/falconet.json', () => {
  it('every expression names only metrics /metrics exports, and labels they carry', async () => {
    const families = await exported();
    expect(exprs.length).toBeGreaterThan(10);
    for (const { where, expr } of exprs) {
      const names = [...expr.matchAll(/\bfalconet_[a-z0-9_]+/g)].map((m) => m[0]);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(families.has(name), `${where}: ${name} is not exported`).toBe(true);
      // Label matchers {label=...} on a metric use its own labels.
      for (const [, name, matchers] of expr.matchAll(/\b(falconet_[a-z0-9_]+)\{([^}]*)\}/g)) {
        for (const [, label] of matchers!.matchAll(/([a-z_]+)\s*(?:=~|!=|!~|=)/g)) {
          expect(families.get(name!)!.has(label!), `${where}: ${name} has no label ${label}`).toBe(true);
        }
      }
    }
  });

  it('covers alerts in/out, per-output success and latency, queue depth, dead letters and the spool', () => {
    const all = exprs.map((e) => e.expr).join('\n');
    for (const name of ['falconet_alerts_received_total', 'falconet_deliveries_total', 'falconet_delivery_duration_seconds_bucket', 'falconet_end_to_end_seconds_bucket', 'falconet_queue_jobs{state="dlq"}', 'falconet_spool_bytes']) {
      expect(all).toContain(name);
    }
  });

  it('every expression is valid PromQL (promtool check rules)', () => {
    if (spawnSync('promtool', ['--version']).status !== 0) {
      console.warn('promtool not installed (Debian package prometheus, .ci/prepare): skipping the PromQL syntax check');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'falconet-grafana-'));
    try {
      // Grafana's variables, replaced by what they expand to.
      const rules = exprs.map((e, i) => ({ record: `falconet:dashboard_expr_${i}`, expr: e.expr.startsWith('label_values') ? 'falconet_deliveries_total' : e.expr.replaceAll('$__rate_interval', '5m').replaceAll('$output', '.*') }));
      writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [{ name: 'dashboard', rules }] }));
      const check = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yaml')], { encoding: 'utf8' });
      expect(check.status, `${check.stdout}${check.stderr}`).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
