import { parse as losslessParse } from 'lossless-json';
import { describe, expect, it } from 'vitest';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();

describe('talon through the pipeline', () => {
  it('posts each alert to Talon as Falco sent it (plus uuid), retrying the one Talon failed to queue', async () => {
    const talon = await rig.capture();
    // Talon's handler: 500 when its NATS publish failed, else 200 with an empty body.
    talon.respondWith({ status: 500, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'Internal Server Error\n' });
    const pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { talon: { type: 'talon', url: talon.url, retry: { attempts: 3, backoff: '20ms' } } },
        routes: [{ outputs: ['talon'] }],
      }),
    );
    const lines = [8, 7, 0].map((i) => fixtureAlertLines()[i]!);
    for (const line of lines) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);
    await waitFor(() => talon.requests.length >= 4, { what: 'three events and one retry at Talon' });
    const queue = pipeline.queue('talon');
    // The two that Talon took went straight out (first attempts skip the queue); the refused one
    // was queued and retried.
    await waitFor(async () => (await queue.getCompletedCount()) >= 1, { what: 'the retried job to complete' });

    const events = talon.requests.map((r) => {
      expect(r.path).toBe('/');
      return losslessParse(r.body) as Record<string, unknown>;
    });
    const uuids = events.map((e) => e.uuid as string);
    expect(new Set(uuids).size).toBe(3);
    // The failed one was sent twice, the others once; each body is Falco's event plus uuid.
    const delivered = new Map(events.map((e) => [e.uuid as string, e]));
    const expected = lines.map((l) => losslessParse(l) as Record<string, unknown>);
    const withoutUuid = [...delivered.values()].map(({ uuid: _uuid, ...rest }) => rest);
    expect(withoutUuid).toEqual(expect.arrayContaining(expected));
    expect(talon.requests.filter((r) => r.body === talon.requests[0]!.body)).toHaveLength(2);
    expect(talon.requests).toHaveLength(4);
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
  });
});
