import { describe, expect, it } from 'vitest';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines, httpVariants } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

describe('fixtures posted as Falco posts them', () => {
  it('arrive at a webhook with their fields intact, int64 evt.time unchanged', async () => {
    capture = await rig.capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { sink: { type: 'webhook', url: `${capture.url}/hook` } },
        routes: [{ outputs: ['sink'] }],
      }),
    );
    const lines = fixtureAlertLines();
    for (const line of lines) {
      const res = await pipeline.post(line, falcoHeaders());
      expect(res.status).toBe(200);
    }
    await waitFor(() => capture!.requests.length >= lines.length, { what: 'all alerts delivered' });
    expect(capture.requests).toHaveLength(lines.length);
    for (const line of lines) {
      const sent = JSON.parse(line) as { rule: string; time: string };
      const evtTime = /"evt\.time":(\d+)/.exec(line)?.[1];
      const got = capture.requests.find((r) => r.body.includes(JSON.stringify(sent.rule)) && r.body.includes(sent.time));
      expect(got, sent.rule).toBeDefined();
      if (evtTime) expect(got!.body).toContain(`"evt.time":${evtTime}`);
      // Every output field of the original, compared as raw JSON text (big integers included).
      const original = JSON.parse(line.replace(/:(\d{16,})/g, ':"$1"')) as { output_fields?: Record<string, unknown> };
      const delivered = JSON.parse(got!.body.replace(/:(\d{16,})/g, ':"$1"')) as { output_fields: Record<string, unknown> };
      for (const [k, v] of Object.entries(original.output_fields ?? {})) expect(delivered.output_fields[k]).toEqual(v);
    }
  });

  it('accepts every Falco HTTP variant (0.27 → 0.44, JSON and text/plain)', async () => {
    capture = await rig.capture();
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { sink: { type: 'webhook', url: capture.url } },
        routes: [{ outputs: ['sink'] }],
      }),
    );
    const variants = httpVariants();
    for (const v of variants) {
      const res = await pipeline.post(v.body, falcoHeaders(v.content_type));
      expect(res.status, `${v.id}: ${await res.clone().text()}`).toBe(200);
    }
    await waitFor(() => capture!.requests.length >= variants.length, { what: 'all variants delivered' });
    const bodies = capture.requests.map((r) => JSON.parse(r.body) as { priority: string; rule: string; source: string });
    expect(bodies.every((b) => ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'].includes(b.priority))).toBe(true);
    const text = bodies.find((b) => b.rule === 'unknown');
    expect(text?.priority).toBe('Notice');
  });
});
