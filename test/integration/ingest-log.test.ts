import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DeadLetterStore } from '../../src/dlq/store.js';
import { appendIngest, ingestLogKey, type IngestEntry } from '../../src/queue/ingest-log.js';
import { IngestConsumer, type IngestConsumerOptions } from '../../src/worker/ingest-consumer.js';
import { REDIS_URL, deletePrefix } from '../helpers/harness.js';
import { ingestBacklog } from '../helpers/ingest-log.js';
import { waitFor } from '../helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup() {
  const prefix = `fnt-${randomUUID().slice(0, 8)}`;
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  cleanups.push(async () => {
    await deletePrefix(prefix);
    redis.disconnect();
  });
  const consumer = (process: IngestConsumerOptions['process'], over: Partial<IngestConsumerOptions> = {}) => {
    const c = new IngestConsumer({
      redis,
      blocking: redis.duplicate(),
      prefix,
      concurrency: 4,
      lockDuration: 300,
      stalledInterval: 100,
      maxStalledCount: 5,
      deadLetters: new DeadLetterStore(redis, { prefix, maxAge: 3_600_000, maxPerOutput: 1000 }),
      logger: pino({ level: 'silent' }),
      process,
      ...over,
    });
    cleanups.push(() => c.forceClose());
    return c;
  };
  const append = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => appendIngest(redis, prefix, [[`a${i}`, `{"rule":"r${i}"}`]], Date.now())));
  return { prefix, redis, consumer, append };
}

/** `count` single-alert entries about a millisecond apart, as serial Falco senders append them. */
async function appendSpaced(redis: Parameters<typeof appendIngest>[0], prefix: string, tag: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await appendIngest(redis, prefix, [[`${tag}${i}`, `{"rule":"r${i}"}`]], Date.now());
    await new Promise((r) => setTimeout(r, 1));
  }
}

describe('the ingest log (a Redis Stream and consumer group)', () => {
  it('runs every entry once, at most router.concurrency at a time, and deletes it when acknowledged: the log does not grow', async () => {
    const { prefix, redis, consumer, append } = setup();
    const ids = await append(40);
    const seen: string[] = [];
    let running = 0;
    let most = 0;
    const c = consumer(async (entry, replay) => {
      expect(replay).toBe(false);
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setImmediate(r));
      seen.push(entry.id);
      running--;
    }, { concurrency: 3 });
    await c.start();
    await waitFor(() => seen.length === 40, { what: '40 entries run' });
    await waitFor(async () => (await redis.xlen(ingestLogKey(prefix))) === 0, { what: 'the log emptied by acknowledgements' });
    expect(seen.sort()).toEqual([...ids].sort());
    expect(most).toBeLessThanOrEqual(3);
    expect(await ingestBacklog(REDIS_URL, prefix)).toEqual({ waiting: 0, active: 0 });
    await c.close();
  });

  it('acknowledgements of entries that finished while a read waited go out with the next read, on its connection; the last ones on their own', async () => {
    const { prefix, redis, consumer } = setup();
    const blocking = redis.duplicate();
    const sentOnBlocking: string[] = [];
    const send = blocking.sendCommand.bind(blocking);
    blocking.sendCommand = ((command: { name: string }, stream?: unknown) => {
      sentOnBlocking.push(command.name);
      return send(command as never, stream as never);
    }) as typeof blocking.sendCommand;
    const seen: string[] = [];
    const c = consumer(async (entry) => void seen.push(entry.id), { blocking });
    await c.start();
    // One entry per millisecond or so, as serial senders produce them: most finish before the next arrives.
    await appendSpaced(redis, prefix, 'a', 60);
    await waitFor(() => seen.length === 60, { what: '60 entries run' });
    await waitFor(async () => (await redis.xlen(ingestLogKey(prefix))) === 0, { what: 'every entry acknowledged (the last without a read to carry it)' });
    expect(sentOnBlocking).toContain('evalsha');
    expect(await ingestBacklog(REDIS_URL, prefix)).toEqual({ waiting: 0, active: 0 });
    await c.close();
  });

  it('an acknowledgement the read connection cannot even send (throws at once) goes on the shared connection, never dropped', async () => {
    const { prefix, redis, consumer } = setup();
    const blocking = redis.duplicate();
    let thrown = 0;
    Object.assign(blocking, {
      falconetIngestAck: () => {
        thrown++;
        throw new Error('cannot send');
      },
    });
    const seen: string[] = [];
    const c = consumer(async (entry) => void seen.push(entry.id), { blocking });
    await c.start();
    await appendSpaced(redis, prefix, 't', 30);
    await waitFor(() => seen.length === 30, { what: '30 entries run' });
    await waitFor(async () => (await redis.xlen(ingestLogKey(prefix))) === 0, { what: 'every entry acknowledged' });
    expect(thrown).toBeGreaterThan(0);
    await c.close();
  });

  it('a stopped (killed) consumer\'s entries are taken over after lockDuration and run again under the same id, as replays', async () => {
    const { prefix, consumer, append } = setup();
    const ids = await append(3);
    const taken: string[] = [];
    const first = consumer(async (entry) => {
      taken.push(entry.id);
      await new Promise(() => undefined); // hangs, as a process killed mid-run
    });
    await first.start();
    await waitFor(() => taken.length === 3, { what: 'the first consumer holding all three' });
    first.forceClose(); // like kill -9: nothing acknowledged, nothing renewed from now on
    const again: Array<[string, boolean]> = [];
    const second = consumer(async (entry: IngestEntry, replay) => void again.push([entry.id, replay]));
    await second.start();
    await waitFor(() => again.length === 3, { what: 'all three taken over' });
    expect(again.map(([id]) => id).sort()).toEqual([...ids].sort());
    expect(again.every(([, replay]) => replay)).toBe(true);
    await waitFor(async () => (await ingestBacklog(REDIS_URL, prefix)).active === 0, { what: 'acknowledged' });
    await second.close();
  });

  it('entries a live consumer holds longer than lockDuration are renewed, never taken over', async () => {
    const { prefix, consumer, append } = setup();
    await append(2);
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const held: string[] = [];
    const first = consumer(async (entry) => {
      held.push(entry.id);
      await slow;
    });
    await first.start();
    await waitFor(() => held.length === 2, { what: 'both held' });
    const stolen: string[] = [];
    const second = consumer(async (entry) => void stolen.push(entry.id));
    await second.start();
    // Five lock durations: without renewal the second consumer would have taken both long since.
    const until = Date.now() + 1500;
    await waitFor(() => Date.now() > until, { timeoutMs: 3000, what: 'five lock durations' });
    expect(stolen).toEqual([]);
    release();
    await waitFor(async () => (await ingestBacklog(REDIS_URL, prefix)).active === 0, { what: 'acknowledged by the first' });
    expect(stolen).toEqual([]);
    await Promise.all([first.close(), second.close()]);
  });

  it('a graceful close stops reading, lets running entries finish and acknowledges them', async () => {
    const { prefix, consumer, append } = setup();
    await append(2);
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    let started = 0;
    let finished = 0;
    const c = consumer(async () => {
      started++;
      await slow;
      finished++;
    });
    await c.start();
    await waitFor(() => started === 2, { what: 'both running' });
    const closing = c.close();
    await append(1); // arrives after the stop: left for another worker, unread
    release();
    await closing;
    expect(finished).toBe(2);
    expect(started).toBe(2);
    expect(await ingestBacklog(REDIS_URL, prefix)).toEqual({ waiting: 1, active: 0 });
  });

  it('during a graceful close, entries still running stay renewed: no other worker takes them over', async () => {
    const { prefix, consumer, append } = setup();
    await append(1);
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    let started = 0;
    const first = consumer(async () => {
      started++;
      await slow;
    });
    await first.start();
    await waitFor(() => started === 1, { what: 'running' });
    const closing = first.close();
    const stolen: string[] = [];
    const second = consumer(async (entry) => void stolen.push(entry.id));
    await second.start();
    const until = Date.now() + 1500; // five lock durations into the stop
    await waitFor(() => Date.now() > until, { timeoutMs: 3000, what: 'five lock durations' });
    release();
    await closing;
    expect(stolen).toEqual([]);
    expect(await ingestBacklog(REDIS_URL, prefix)).toEqual({ waiting: 0, active: 0 });
    await second.close();
  });

  it('a killed consumer\'s entries are found behind many entries a live consumer holds (the takeover scan goes on where it stopped)', async () => {
    const { consumer, append } = setup();
    await append(60);
    let holding = 0;
    const busy = consumer(async () => {
      holding++;
      await new Promise(() => undefined); // held (and renewed) for the whole test
    }, { concurrency: 60 });
    await busy.start();
    await waitFor(() => holding === 60, { what: 'the live consumer holding 60' });
    const killedIds = await append(3);
    const taken: string[] = [];
    const killed = consumer(async (entry) => {
      taken.push(entry.id);
      await new Promise(() => undefined);
    }, { concurrency: 3 });
    await killed.start();
    await waitFor(() => taken.length === 3, { what: 'the second consumer holding 3' });
    killed.forceClose();
    // One free slot: each scan looks at 10 pending entries, the 60 live ones come first.
    const again: string[] = [];
    const third = consumer(async (entry) => void again.push(entry.id), { concurrency: 1 });
    await third.start();
    await waitFor(() => again.length === 3, { timeoutMs: 15_000, what: 'the killed consumer\'s entries taken over' });
    expect(again.sort()).toEqual([...killedIds].sort());
    await third.close();
  });
});
