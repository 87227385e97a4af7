import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { eventIdentity } from '../../src/alert/identity.js';
import { parseJson } from '../../src/alert/json.js';
import { normalise } from '../../src/router/stages/normalise.js';
import type { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders } from '../helpers/fixtures.js';
import { REDIS_URL, drained, testConfig, type Pipeline } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();

type Delivered = { rule: string; hostname?: string; source?: string; output_fields: Record<string, unknown> };

/** Every alert a path received, batched (JSON arrays) or not. */
function received(capture: CaptureServer, path: string): Delivered[] {
  return capture.requests.filter((r) => r.path === path).flatMap((r) => {
    const body = parseJson(r.body) as unknown as Delivered | Delivered[];
    return Array.isArray(body) ? body : [body];
  });
}


const NS = 1749722998004512930n;
const syscall = (i: number, over: Record<string, unknown> = {}) =>
  `{"rule":"Terminal shell in container","priority":"Notice","source":"syscall","hostname":"node-1","time":"2025-06-12T10:01:02.${String(i).padStart(9, '0')}Z","output":"A shell was spawned (user=root cmdline=bash)","output_fields":{"container.id":"0123456789ab","proc.cmdline":"bash","user.name":"root","evt.time":${NS + BigInt(i)}},"tags":["container","shell"]${Object.entries(over).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')}}`;
const audit = (i: number, host = 'node-1') =>
  `{"rule":"Attach/Exec Pod","priority":"Notice","source":"k8s_audit","hostname":"${host}","time":"2025-06-12T10:01:03.${String(i).padStart(9, '0')}Z","output":"Attach/Exec to pod (user=user-${i} pod=pod-${i} ns=team1)","output_fields":{"ka.user.name":"user-${i}","ka.target.name":"pod-${i}","ka.target.namespace":"team1","evt.time":${NS + BigInt(i)}},"tags":["k8s"]}`;

const outputs = (url: string) => ({
  one: { type: 'webhook', url: `${url}/one` },
  batched: { type: 'webhook', url: `${url}/batched`, batch: { size: 20, interval: '200ms' } },
});

describe('exact duplicates only, with the shipped defaults', () => {
  it('50 audit alerts of one rule and host (distinct users, targets, evt.time) and 50 syscall alerts in one container all arrive', async () => {
    const capture = await rig.capture();
    // No dedup key in the config: the shipped default (10 minutes, exact duplicates).
    const pipeline = await rig.pipeline(testConfig({ outputs: outputs(capture.url), routes: [{ outputs: ['one', 'batched'] }] }));
    const bodies = [...Array.from({ length: 50 }, (_, i) => audit(i)), ...Array.from({ length: 50 }, (_, i) => syscall(i))];
    // The events span well under 5 s of event time (evt.time i ns apart), all inside the 10-minute
    // window however slow the machine posts them: wall time is not what this test is about.
    for (const body of bodies) expect((await pipeline.post(body, falcoHeaders())).status).toBe(200);
    await waitFor(() => received(capture, '/one').length >= 100 && received(capture, '/batched').length >= 100, { what: '100 alerts on each output', timeoutMs: 20_000 });
    await drained(pipeline, ['one', 'batched']);
    for (const path of ['/one', '/batched']) {
      const got = received(capture, path);
      expect(got, path).toHaveLength(100);
      expect(new Set(got.map((a) => `${a.rule}|${String(a.output_fields['evt.time'])}`)).size, path).toBe(100);
    }
  });

  it('the same body posted 3 times arrives once on an unbatched and once on a batched output; an audit event from two Falco hosts once', async () => {
    const capture = await rig.capture();
    const pipeline = await rig.pipeline(testConfig({ outputs: outputs(capture.url), routes: [{ outputs: ['one', 'batched'] }] }));
    const body = syscall(7);
    // Three POSTs in a row and three at once (different ingest jobs, possibly one group commit).
    for (let i = 0; i < 3; i++) expect((await pipeline.post(body, falcoHeaders())).status).toBe(200);
    const concurrent = await Promise.all([0, 1, 2].map(() => pipeline.post(syscall(8), falcoHeaders())));
    expect(concurrent.map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await pipeline.post(audit(9, 'node-1'), falcoHeaders())).status).toBe(200);
    expect((await pipeline.post(audit(9, 'node-2'), falcoHeaders())).status).toBe(200);
    // A marker posted last: once it is in, everything before it was routed.
    expect((await pipeline.post(syscall(99, { rule: 'marker' }), falcoHeaders())).status).toBe(200);
    await waitFor(() => received(capture, '/one').some((a) => a.rule === 'marker') && received(capture, '/batched').some((a) => a.rule === 'marker'), { what: 'marker delivered', timeoutMs: 20_000 });
    await drained(pipeline, ['one', 'batched']);
    for (const path of ['/one', '/batched']) {
      const times = received(capture, path).map((a) => `${a.rule}|${String(a.output_fields['evt.time'])}`);
      expect(times.sort(), path).toEqual([
        `Attach/Exec Pod|${NS + 9n}`,
        `Terminal shell in container|${NS + 7n}`,
        `Terminal shell in container|${NS + 8n}`,
        `marker|${NS + 99n}`,
      ]);
    }
    const metrics = await pipeline.metrics.registry.metrics();
    expect(metrics).toMatch(/falconet_alerts_routed_total\{outcome="duplicate"\} 5\b/);
  });

  it('the same body posted again after the window arrives again, on a quiet install too', async () => {
    const capture = await rig.capture();
    const config = testConfig({ dedup: { window: '1s' }, outputs: outputs(capture.url), routes: [{ outputs: ['one', 'batched'] }] });
    const pipeline = await rig.pipeline(config);
    const body = syscall(5);
    const claim = `${config.redis.prefix}:dedup:${eventIdentity(normalise([['x', body]])[0]!)}`;
    const redis = new Redis(REDIS_URL);
    try {
      expect((await pipeline.post(body, falcoHeaders())).status).toBe(200);
      await waitFor(() => received(capture, '/one').length === 1 && received(capture, '/batched').length === 1, { what: 'first delivery' });
      // Nothing else happens meanwhile (no later job completes, nothing prunes): only the window passes.
      await waitFor(async () => (await redis.exists(claim)) === 0, { what: 'dedup window to end', timeoutMs: 10_000 });
      expect((await pipeline.post(body, falcoHeaders())).status).toBe(200);
      await waitFor(() => received(capture, '/one').length === 2 && received(capture, '/batched').length === 2, { what: 'second delivery', timeoutMs: 10_000 });
    } finally {
      redis.disconnect();
    }
    await drained(pipeline, ['one', 'batched']);
    expect(received(capture, '/one')).toHaveLength(2);
    expect(received(capture, '/batched')).toHaveLength(2);
  });
});
