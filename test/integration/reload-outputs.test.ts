import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();
const alert = (i: number) =>
  JSON.stringify({ rule: 'Terminal shell in container', priority: 'Warning', hostname: 'node-1', time: new Date(Date.UTC(2026, 0, 1) + i).toISOString(), output: `seq ${i}`, output_fields: { 'container.id': 'c1' } });
const seqOf = (body: string) => Number(/seq (\d+)/.exec(body)![1]);

describe('worker reload of a changed output', () => {
  it('jobs queued before the change are delivered once, by the new delivery worker with the new settings', async () => {
    // A slow destination, so that jobs are still queued (and one in flight) when the output changes.
    const dest = await rig.capture();
    dest.fallback = { status: 200, delayMs: 30 };
    const doc = (header: string) => ({
      outputs: { hook: { type: 'webhook', url: `${dest.url}/h`, concurrency: 1, headers: { 'x-config': header } } },
      routes: [{ outputs: ['hook'] }],
    });
    const config = testConfig(doc('old'));
    const pipeline = await rig.pipeline(config);
    for (let i = 0; i < 60; i++) expect((await pipeline.post(alert(i))).status).toBe(200);
    await waitFor(() => dest.requests.length >= 5, { what: 'first deliveries' });

    const next = buildConfig({ ...doc('new'), redis: config.redis, spool: config.spool, listen: config.listen, dedup: config.dedup });
    const plan = await pipeline.worker!.reload(next);
    expect(plan).toMatchObject({ added: [], removed: [], changed: ['hook'] });
    const changedAt = dest.requests.length;
    for (let i = 60; i < 80; i++) expect((await pipeline.post(alert(i))).status).toBe(200);

    await waitFor(() => dest.requests.length >= 80, { timeoutMs: 30_000, what: 'every alert delivered' });
    const seqs = dest.requests.map((r) => seqOf(r.body)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 80 }, (_, i) => i));
    // Queued before the change, sent after it: by the new worker, with the new header.
    expect(changedAt).toBeLessThan(60);
    const headers = dest.requests.map((r) => r.headers['x-config']);
    expect(headers.slice(0, changedAt - 1).every((h) => h === 'old')).toBe(true);
    expect(headers.slice(changedAt + 1).every((h) => h === 'new')).toBe(true);
    expect(pipeline.worker!.ready()).toMatchObject({ ready: true, body: { outputs: ['hook'], draining: [] } });
  }, 60_000);

  it('a changed output that cannot start (its CA file missing) refuses the reload, naming the key; the running output keeps delivering', async () => {
    const dest = await rig.capture();
    const doc = (extra: Record<string, unknown>) => ({
      outputs: { hook: { type: 'webhook', url: `${dest.url}/h`, ...extra } },
      routes: [{ outputs: ['hook'] }],
    });
    const config = testConfig(doc({}));
    const pipeline = await rig.pipeline(config);
    expect((await pipeline.post(alert(1))).status).toBe(200);
    await waitFor(() => dest.requests.length >= 1, { what: 'the first delivery' });

    const next = buildConfig({ ...doc({ tls: { ca: '/nonexistent/falconet-ca.pem' } }), redis: config.redis, spool: config.spool, listen: config.listen, dedup: config.dedup });
    await expect(pipeline.worker!.reload(next)).rejects.toThrow('outputs.hook.tls.ca: cannot read /nonexistent/falconet-ca.pem (ENOENT)');

    expect((await pipeline.post(alert(2))).status).toBe(200);
    await waitFor(() => dest.requests.length >= 2, { what: 'delivery after the refused reload' });
    expect(dest.requests.map((r) => seqOf(r.body))).toEqual([1, 2]);
    expect(pipeline.worker!.ready()).toMatchObject({ ready: true, body: { outputs: ['hook'] } });
  }, 60_000);
});
