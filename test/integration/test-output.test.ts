import { describe, expect, it } from 'vitest';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();

describe('POST /test?output=NAME', () => {
  it('sends a test alert to that one output, whatever the routes say; an unknown output is a 404', async () => {
    const routed = await rig.capture();
    const other = await rig.capture();
    const pipeline = await rig.pipeline(
      testConfig({
        outputs: { routed: { type: 'webhook', url: `${routed.url}/r` }, other: { type: 'webhook', url: `${other.url}/o` } },
        routes: [{ outputs: ['routed'] }],
      }),
    );
    const res = await fetch(`${pipeline.collector.url}/test?output=other&priority=warning`, { method: 'POST' });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ status: 'queued', output: 'other' });
    await waitFor(() => other.requests.length === 1, { what: 'test alert delivered to other' });
    expect(JSON.parse(other.requests[0]!.body)).toMatchObject({ rule: 'Falconet test', priority: 'Warning', source: 'internal' });

    const unknown = await fetch(`${pipeline.collector.url}/test?output=nope`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'unknown_output', detail: 'no output "nope"; outputs: routed, other' });
    // Without output, /test goes through the routes as before.
    expect((await fetch(`${pipeline.collector.url}/test`, { method: 'POST' })).status).toBe(200);
    await waitFor(() => routed.requests.length === 1, { what: 'routed test alert' });
    expect(other.requests).toHaveLength(1);
  });
});
