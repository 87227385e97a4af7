import { describe, expect, it } from 'vitest';
import { CaptureServer } from '../helpers/capture-server.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

type Push = { streams: Array<{ stream: Record<string, string>; values: unknown[][] }> };

describe('loki push through the pipeline', () => {
  it('pushes streams keyed by labels, ns timestamps as strings, tenant and basic auth, 204 is success', async () => {
    capture = await rig.capture();
    capture.fallback = { status: 204 };
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          loki: {
            type: 'loki',
            url: `${capture.url}/`,
            tenant: 'team-sec',
            username: '4242',
            password: 'glc_token',
            labels: ['source', 'priority', 'k8s.ns.name'],
            batch: { size: 8, interval: '5s' },
          },
        },
        routes: [{ outputs: ['loki'] }],
      }),
    );
    const lines = fixtureAlertLines().slice(0, 8);
    expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 1, { what: 'the push' });
    // A 204 is a success: all 8 counted delivered, and nothing left to retry.
    await waitFor(async () => /falconet_deliveries_total\{[^}]*output="loki"[^}]*status="ok"[^}]*\} 8\b/.test(await pipeline!.metrics.registry.metrics()), { what: 'the 8 alerts counted delivered on 204' });
    expect(await pipeline!.queue('loki').getJobCounts('waiting', 'delayed', 'active', 'failed')).toEqual({ waiting: 0, delayed: 0, active: 0, failed: 0 });

    expect(capture.requests).toHaveLength(1);
    const req = capture.requests[0]!;
    expect(req.path).toBe('/loki/api/v1/push');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-scope-orgid']).toBe('team-sec');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('4242:glc_token').toString('base64')}`);

    const push = JSON.parse(req.body) as Push;
    const keys = push.streams.map((s) => JSON.stringify(s.stream));
    expect(new Set(keys).size).toBe(keys.length);
    const entries = push.streams.flatMap((s) => s.values.map((v) => ({ stream: s.stream, v })));
    expect(entries).toHaveLength(lines.length);
    for (const line of lines) {
      const sent = JSON.parse(line) as { rule: string; time: string; source: string; priority: string; output_fields: Record<string, unknown> };
      const found = entries.find(({ v }) => (JSON.parse(v[1] as string) as { rule: string; time: string }).time === sent.time && (v[1] as string).includes(JSON.stringify(sent.rule)));
      expect(found, sent.rule).toBeDefined();
      const [ts, text, meta] = found!.v as [unknown, string, Record<string, string>];
      expect(typeof ts).toBe('string');
      const [secs, frac] = sent.time.replace(/Z$/, '').split('.');
      expect(ts).toBe(`${Date.parse(`${secs}Z`) / 1000}${frac!.padEnd(9, '0')}`);
      expect(text).toContain(`"evt.time":${/"evt\.time":(\d+)/.exec(line)![1]}`);
      expect(found!.stream.source).toBe(sent.source);
      expect(found!.stream.priority).toBe(sent.priority);
      const ns = sent.output_fields['k8s.ns.name'] ?? sent.output_fields['ka.target.namespace'];
      expect(found!.stream.k8s_ns_name).toBe(ns);
      expect(Object.values(meta).every((x) => typeof x === 'string')).toBe(true);
      expect(meta.alert_id).toMatch(/^[0-9a-f]{32}$/);
    }
  });
});
