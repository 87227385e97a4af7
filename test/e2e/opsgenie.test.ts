import { describe, expect, it } from 'vitest';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();
const API_KEY = 'e2e0b7c2-0f5e-4a59-9c3e-genie0000001';

interface OpsgenieAlert {
  message: string;
  alias: string;
  description: string;
  priority: string;
  details: Record<string, string>;
}

describe('opsgenie through the pipeline', () => {
  it('one alert for the first of a storm, then one digest with the same alias that says how many were folded', async () => {
    const capture = await rig.capture();
    capture.fallback = { status: 202, headers: { 'content-type': 'application/json' }, body: '{"result":"Request will be processed","took":0.004,"requestId":"9ae63dd7-ed00-4c81-86f0-c4ffd33142c9"}' };
    const pipeline = await rig.pipeline(
      testConfig({
        outputs: { og: { type: 'opsgenie', apiKey: API_KEY, url: capture.url, dedup: { window: '2s', key: ['rule'] } } },
        routes: [{ outputs: ['og'] }],
      }),
    );
    const shell = fixtureAlertLines()[8]!; // Notice "Terminal shell in container", evt.time 1749716043412907117
    // 20 repeats of the rule, each a distinct event (its own time and evt.time), in one NDJSON body
    // so that all of them fall inside one storm window whatever the machine's speed.
    const repeats = Array.from({ length: 20 }, (_, i) =>
      shell.replace('1749716043412907117', String(1749716043412907117n + BigInt(i))).replace('08:14:03.412907117Z', `08:14:03.4129071${String(17 + i).padStart(2, '0')}Z`),
    );
    expect((await pipeline.post(repeats.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => capture.requests.length >= 2, { what: 'the first alert and the digest', timeoutMs: 15_000 });
    const [first, digest] = capture.requests.map((r) => {
      expect(r.path).toBe('/v2/alerts');
      expect(r.headers.authorization).toBe(`GenieKey ${API_KEY}`);
      return JSON.parse(r.body) as OpsgenieAlert;
    });
    expect(first!.message).toBe('[Notice] Terminal shell in container on ip-10-0-12-34.ec2.internal (team1/storefront-web-7c9d8f6b9-kx2lm)');
    expect(first!.priority).toBe('P5');
    expect(digest!.message).toMatch(/^\[Notice\] Terminal shell in container ×19 on 1 pod in team1, 08:14:03–08:14:03 UTC$/);
    expect(digest!.alias).toBe(first!.alias);
    expect(digest!.details.suppressed).toBe('19');
    expect(digest!.description).toContain('19 repeats suppressed by storm control');
    // Nothing else follows: one page and one digest for the storm.
    const queue = pipeline.queue('og');
    await waitFor(async () => Object.values(await queue.getJobCounts('waiting', 'active', 'delayed')).every((n) => n === 0), { what: 'the queue drained' });
    expect(capture.requests).toHaveLength(2);
  });
});
