import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { alertId } from '../../src/collector/decode.js';
import { ROUTER_OUTPUT } from '../../src/dlq/store.js';
import { deadLetters } from '../helpers/dlq.js';
import { REDIS_URL, testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();
const alert = (rule: string, n: number) => JSON.stringify({ rule, priority: 'Warning', time: `2025-06-12T08:00:0${n}Z`, hostname: 'node-1', output: `${rule} #${n}`, output_fields: { n } });

describe('upgrade from the BullMQ ingest queue', () => {
  it('a worker moves the old queue\'s waiting jobs into the ingest log (delivered) and its failed jobs into the @router dead letters', async () => {
    const sink = await rig.capture();
    const config = testConfig({ dedup: { window: 0 }, outputs: { hook: { type: 'webhook', url: sink.url } }, routes: [{ outputs: ['hook'] }] });
    const prefix = config.redis.prefix;
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    // What an older version left: a failed job, then two acknowledged alerts no router took yet.
    const old = new Queue('ingest', { connection: redis, prefix });
    const failedBody = alert('failed before the upgrade', 1);
    await old.add('alerts', { alerts: [[alertId(failedBody), failedBody]], receivedAt: Date.now() }, { attempts: 1 });
    const oldRouter = new Worker('ingest', async () => { throw new Error('old router exploded'); }, { connection: redis.duplicate(), prefix });
    await waitFor(async () => (await old.getFailedCount()) === 1, { what: 'the old failed job' });
    await oldRouter.close();
    const waiting = [alert('waiting', 2), alert('waiting', 3)];
    await old.add('alerts', { alerts: waiting.map((b) => [alertId(b), b]), receivedAt: Date.now() });
    await old.close();

    await rig.pipeline(config);
    await waitFor(() => sink.requests.length === 2, { what: 'the two waiting alerts delivered' });
    expect(sink.requests.map((r) => (JSON.parse(r.body) as { output_fields: { n: number } }).output_fields.n).sort()).toEqual([2, 3]);
    const [letter] = await deadLetters(config).list(ROUTER_OUTPUT);
    expect(letter).toMatchObject({ id: alertId(failedBody), rule: 'failed before the upgrade', reason: 'old router exploded', alert: failedBody });
    expect(await redis.keys(`${prefix}:ingest:*`)).toEqual([]);
    redis.disconnect();
  });
});
