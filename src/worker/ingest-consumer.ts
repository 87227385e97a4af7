import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ruleOfText } from '../alert/alert.js';
import type { RedisClient } from '../queue/connection.js';
import { INGEST_GROUP, ensureIngestGroup, ingestErrorsKey, ingestLogKey, parseEntry, type IngestEntry } from '../queue/ingest-log.js';
import { ROUTER_OUTPUT, type DeadLetterStore } from '../dlq/store.js';
import { AckBatcher } from './ingest-acks.js';

/** How long one XREADGROUP blocks: also the longest a graceful stop waits for it on a Cluster (no CLIENT UNBLOCK there). */
const BLOCK_MS = 1000;

export interface IngestConsumerOptions {
  /** Commands (acks, heartbeats, reclaims): the worker's shared, auto-pipelined connection. */
  redis: RedisClient;
  /** Only for the blocking XREADGROUP, which would hold up every command queued behind it. */
  blocking: RedisClient;
  prefix: string;
  /** Entries run at once (router.concurrency). */
  concurrency: number;
  /** An entry held this long without a heartbeat belongs to a stopped worker: another one takes it (worker.lockDuration). */
  lockDuration: number;
  /** How often pending entries of stopped workers are looked for (worker.stalledInterval). */
  stalledInterval: number;
  /** Runs an entry may be taken over after, before it becomes router dead letters (worker.maxStalledCount). */
  maxStalledCount: number;
  deadLetters: DeadLetterStore;
  logger: Logger;
  /** Routes one entry; resolves once everything it queued or sent is durably done. `replay`: not its first run. */
  process(entry: IngestEntry, replay: boolean): Promise<void>;
  /** Entries acknowledged (deleted from the log): they never run again. */
  onAcked?(ids: readonly string[]): void;
}

type StreamEntries = Array<[string, string[] | null]>;

/**
 * The routers' side of the ingest log (src/queue/ingest-log.ts): a consumer in the group that
 * reads new entries (XREADGROUP … COUNT <free slots>), runs each through the router, and
 * acknowledges them in bulk once done. At most `concurrency` entries run at once.
 *
 * Crash safety, as BullMQ's locks gave it: an entry stays pending in the group from its read until
 * its acknowledgement; this process renews (XCLAIM … JUSTID, which resets its idle time) every
 * entry it holds twice per lockDuration, so an entry idle longer belongs to a process that stopped
 * (kill -9) or stalled, and any worker takes it over (XAUTOCLAIM) and runs it again under the same
 * id: its dedup claims and fan-out ledger let it pass its own alerts and queue only what is left.
 * A failed run is not retried here: the entry is simply no longer renewed and comes back the same
 * way, after lockDuration. Each takeover counts a delivery; past maxStalledCount the entry's alerts
 * go to the router dead letters instead.
 */
export class IngestConsumer {
  /** Unique per process start: a restarted worker never inherits a dead one's pending entries by name. */
  readonly name = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly key: string;
  private readonly acks: AckBatcher;
  /** Entries read and not yet acknowledged (running, or waiting for their acknowledgement): renewed. */
  private readonly held = new Set<string>();
  private running = 0;
  private slotWaiter?: () => void;
  private runs = new Set<Promise<void>>();
  private loop?: Promise<void>;
  private closing = false;
  private timers: NodeJS.Timeout[] = [];
  private blockingId?: number;
  private readFailing = false;
  /** Where the next takeover scan starts: XAUTOCLAIM looks at no more than 10 × COUNT pending entries per call. */
  private reclaimCursor = '0-0';

  /** An XREADGROUP is under way on the blocking connection (acknowledgements can go with the next one). */
  private blockedRead = false;

  constructor(private readonly opts: IngestConsumerOptions) {
    this.key = ingestLogKey(opts.prefix);
    // On a Cluster the blocking connection is no single socket to write both on: no rides there.
    const consumer = this;
    const carrier = 'nodes' in opts.blocking ? undefined : { get reading() { return consumer.blockedRead && opts.blocking.status === 'ready'; } };
    this.acks = new AckBatcher(opts.redis, opts.prefix, opts.logger, (ids) => {
      for (const id of ids) this.held.delete(id);
      opts.onAcked?.(ids);
    }, carrier);
  }

  /** Reading (not stopping, and the last read did not fail). */
  get consuming(): boolean {
    return this.loop !== undefined && !this.closing && !this.readFailing;
  }

  async start(): Promise<void> {
    await ensureIngestGroup(this.opts.redis, this.opts.prefix);
    // Its client id, for CLIENT UNBLOCK at stop; refreshed on every reconnect.
    const learnId = () => void (this.opts.blocking.call('CLIENT', 'ID') as Promise<number>).then((id) => (this.blockingId = id), () => undefined);
    if (!('nodes' in this.opts.blocking)) {
      this.opts.blocking.on('ready', learnId);
      if (this.opts.blocking.status === 'ready') learnId();
    }
    this.loop = this.readLoop();
    // Renewal goes on during a graceful stop (the entries still running are this process's until
    // acknowledged); taking over other entries does not.
    const every = (ms: number, fn: () => Promise<void>, whileClosing: boolean) => {
      let busy = false;
      const timer = setInterval(() => {
        if (busy || (this.closing && !whileClosing)) return;
        busy = true;
        void fn().catch((err: Error) => this.opts.logger.debug({ err: err.message }, 'ingest log housekeeping failed; next round retries')).finally(() => (busy = false));
      }, ms);
      this.timers.push(timer);
    };
    every(Math.max(50, Math.floor(this.opts.lockDuration / 2)), () => this.renew(), true);
    every(this.opts.stalledInterval, () => this.reclaim(), false);
  }

  /** Graceful: stop reading, let running entries finish, acknowledge them. */
  async close(): Promise<void> {
    this.closing = true;
    this.slotWaiter?.();
    if (this.blockingId !== undefined) await this.opts.redis.call('CLIENT', 'UNBLOCK', this.blockingId).catch(() => undefined);
    await this.loop;
    while (this.runs.size > 0) await Promise.all([...this.runs]);
    await this.acks.drain();
    for (const t of this.timers) clearInterval(t);
    // A consumer that holds nothing is only clutter in XINFO CONSUMERS.
    const mine = (await this.opts.redis.xpending(this.key, INGEST_GROUP, '-', '+', 1, this.name).catch(() => [1])) as unknown[];
    if (mine.length === 0) await this.opts.redis.xgroup('DELCONSUMER', this.key, INGEST_GROUP, this.name).catch(() => undefined);
    this.opts.blocking.disconnect();
  }

  /** By force (Redis unreachable, grace period over): what is held comes back to another worker after lockDuration. */
  forceClose(): void {
    this.closing = true;
    this.slotWaiter?.();
    for (const t of this.timers) clearInterval(t);
    this.acks.stop();
    this.opts.blocking.disconnect();
  }

  private async readLoop(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      const free = this.opts.concurrency - this.running;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.slotWaiter = resolve));
        continue;
      }
      try {
        const read = this.read(free);
        this.blockedRead = true;
        let reply: Array<[string, StreamEntries]> | null;
        try {
          reply = (await read) as Array<[string, StreamEntries]> | null;
        } finally {
          this.blockedRead = false;
        }
        failures = 0;
        this.readFailing = false;
        for (const [id, fields] of reply?.[0]?.[1] ?? []) if (fields) this.run(parseEntry(id, fields), 1);
      } catch (err) {
        if (this.closing) break;
        const message = (err as Error).message;
        // The stream or its group was deleted (FLUSHALL, a test cleaning its prefix): start it afresh.
        if (/NOGROUP/.test(message)) {
          await ensureIngestGroup(this.opts.redis, this.opts.prefix).catch(() => undefined);
          continue;
        }
        // Redis unreachable: ioredis reconnects; a worker never gives up on it.
        if (!this.readFailing) this.opts.logger.warn({ err: message }, 'reading the ingest log failed; retrying');
        this.readFailing = true;
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** failures++, 1000)));
      }
    }
  }

  /**
   * One XREADGROUP, with the acknowledgements waiting for a ride (AckBatcher.carry) before it in
   * the same socket write: the socket is corked while both are written.
   */
  private read(free: number): Promise<unknown> {
    const blocking = this.opts.blocking;
    // Only on a connection that is up: a command for one that is not waits in ioredis's offline queue.
    const stream = 'nodes' in blocking || blocking.status !== 'ready' ? undefined : blocking.stream;
    if (!stream) return blocking.xreadgroup('GROUP', INGEST_GROUP, this.name, 'COUNT', free, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, '>');
    stream.cork();
    try {
      this.acks.carry(blocking);
      return blocking.xreadgroup('GROUP', INGEST_GROUP, this.name, 'COUNT', free, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, '>');
    } finally {
      stream.uncork();
    }
  }

  private run(entry: IngestEntry, deliveries: number): void {
    this.held.add(entry.id);
    this.running++;
    const run = this.opts
      .process(entry, deliveries > 1)
      .then(
        () => this.acks.add(entry.id),
        (err: Error) => {
          // Not renewed from now on: after lockDuration a worker (maybe this one) takes it over.
          this.held.delete(entry.id);
          this.opts.logger.error({ entry: entry.id, err: err.message, deliveries }, 'ingest entry failed; it runs again after worker.lockDuration');
          return this.opts.redis.hset(ingestErrorsKey(this.opts.prefix), entry.id, err.message).then(() => undefined, () => undefined);
        },
      )
      .finally(() => {
        this.running--;
        this.runs.delete(run);
        const wake = this.slotWaiter;
        this.slotWaiter = undefined;
        wake?.();
      });
    this.runs.add(run);
  }

  /** Resets the idle time of every entry this process holds: they are not anybody else's to take. */
  private async renew(): Promise<void> {
    const ids = [...this.held];
    for (let i = 0; i < ids.length; i += 1000) {
      await this.opts.redis.call('XCLAIM', this.key, INGEST_GROUP, this.name, 0, ...ids.slice(i, i + 1000), 'JUSTID');
    }
  }

  /** Takes over entries nobody renewed for lockDuration (their worker stopped), as many as there are free slots. */
  private async reclaim(): Promise<void> {
    const free = this.opts.concurrency - this.running;
    if (free <= 0) return;
    const [cursor, claimed] = (await this.opts.redis.xautoclaim(this.key, INGEST_GROUP, this.name, this.opts.lockDuration, this.reclaimCursor, 'COUNT', free)) as [
      string,
      StreamEntries,
      string[]?,
    ];
    // Many live entries ahead of the idle ones (a busy worker's) would otherwise hide them for good.
    this.reclaimCursor = cursor;
    const entries = claimed.filter((e): e is [string, string[]] => e[1] !== null);
    if (entries.length === 0) return;
    // Delivery counts (XAUTOCLAIM added one for this takeover), from this consumer's pending range.
    const pending = (await this.opts.redis.xpending(this.key, INGEST_GROUP, entries[0]![0], entries.at(-1)![0], entries.length + this.held.size, this.name)) as Array<
      [string, string, number, number]
    >;
    const deliveriesOf = new Map(pending.map(([id, , , n]) => [id, Number(n)]));
    for (const [id, fields] of entries) {
      const entry = parseEntry(id, fields);
      const deliveries = deliveriesOf.get(id) ?? 2;
      if (deliveries - 1 > this.opts.maxStalledCount) {
        this.held.add(id);
        await this.deadLetter(entry, deliveries).catch((err: Error) => {
          this.held.delete(id); // taken over again next time round
          throw err;
        });
        continue;
      }
      this.opts.logger.warn({ entry: id, deliveries }, 'ingest entry taken over from a stopped or stalled run; it runs again');
      this.run(entry, deliveries);
    }
  }

  /** An entry that failed or was taken over too often: its alerts become router dead letters (`falconet dlq`, @router). */
  private async deadLetter(entry: IngestEntry, deliveries: number): Promise<void> {
    const errors = ingestErrorsKey(this.opts.prefix);
    const reason = (await this.opts.redis.hget(errors, entry.id)) ?? `its run stopped ${deliveries - 1} times without finishing (worker killed or stalled)`;
    const now = Date.now();
    // This takeover counted a delivery but does not run it: the runs were one fewer.
    const runs = deliveries - 1;
    await this.opts.deadLetters.add(
      ROUTER_OUTPUT,
      entry.alerts.map(([id, text]) => ({ id, rule: ruleOfText(text), alert: text, reason, attempts: runs, firstAttemptAt: entry.receivedAt || now, lastAttemptAt: now })),
    );
    this.opts.logger.error({ entry: entry.id, alerts: entry.alerts.length, deliveries, reason }, 'ingest entry given up on; its alerts are router dead letters (falconet dlq, @router)');
    this.acks.add(entry.id);
  }
}
