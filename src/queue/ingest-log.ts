import type { RedisClient } from './connection.js';

/**
 * The ingest log: a Redis Stream the collector appends one entry to per group commit and the
 * routers read through one consumer group. It replaced a BullMQ ingest queue (issue #10): a job
 * cycle cost several Lua scripts and a (de)serialisation per job; an entry costs one XADD, a share
 * of one XREADGROUP and of one acknowledgement script (XACK + XDEL). Retries, delays and failed sets, which only
 * the delivery queues need, stay with BullMQ there.
 *
 * Every key carries `prefix`, hash tag included, so on a Cluster the stream, its error notes and
 * the queues of the same prefix live in one slot.
 */
export const INGEST_GROUP = 'router';

/** Shown as the ingest queue in `falconet_queue_jobs{queue=…}` (dashboards predate the stream). */
export const INGEST_QUEUE_LABEL = 'ingest';

export function ingestLogKey(prefix: string): string {
  return `${prefix}:ingest-log`;
}

/** Last error of an entry whose run failed, so whichever worker reclaims it can dead-letter it with a reason. */
export function ingestErrorsKey(prefix: string): string {
  return `${prefix}:ingest-log:errors`;
}

/** One group commit: [alert id, alert JSON as received] pairs. */
export type IngestAlerts = Array<[string, string]>;

export interface IngestEntry {
  /** The stream entry id: names the entry's dedup claims and fan-out ledger, the same on every run. */
  id: string;
  alerts: IngestAlerts;
  /** Epoch ms when the collector accepted the request. */
  receivedAt: number;
}

/**
 * Fields: `t` <receivedAt>, then one field per alert, named by its id, valued with its text.
 * Positional, so an id that happens to be "t" is no problem; flat, so neither side builds or
 * parses a JSON document around alert texts that are JSON already (escaping every quote).
 */
export function entryFields(alerts: IngestAlerts, receivedAt: number): string[] {
  const fields = new Array<string>(2 + alerts.length * 2);
  fields[0] = 't';
  fields[1] = String(receivedAt);
  for (let i = 0; i < alerts.length; i++) {
    fields[2 + 2 * i] = alerts[i]![0];
    fields[3 + 2 * i] = alerts[i]![1];
  }
  return fields;
}

export function parseEntry(id: string, fields: readonly string[]): IngestEntry {
  const alerts: IngestAlerts = new Array(Math.max(0, (fields.length - 2) >> 1));
  for (let i = 2, n = 0; i + 1 < fields.length; i += 2, n++) alerts[n] = [fields[i]!, fields[i + 1]!];
  return { id, alerts, receivedAt: Number(fields[1]) || 0 };
}

/** Appends one entry (no trimming: an entry leaves the log only once a router acknowledged it). */
export async function appendIngest(redis: RedisClient, prefix: string, alerts: IngestAlerts, receivedAt: number): Promise<string> {
  return (await redis.xadd(ingestLogKey(prefix), '*', ...entryFields(alerts, receivedAt)))!;
}

/**
 * Creates the routers' consumer group (and the stream) if missing. From id 0: entries the
 * collector appended before any worker started are read too.
 */
export async function ensureIngestGroup(redis: RedisClient, prefix: string): Promise<void> {
  try {
    await redis.xgroup('CREATE', ingestLogKey(prefix), INGEST_GROUP, '0', 'MKSTREAM');
  } catch (err) {
    if (!/BUSYGROUP/.test((err as Error).message)) throw err;
  }
}

/**
 * The log as a queue for `falconet_queue_jobs`: acknowledged entries are deleted at once, so
 * every entry still in the stream is either pending (read by a router, not yet acknowledged:
 * active) or not read yet (waiting). Nothing is ever delayed or failed here: an entry that fails
 * too often becomes router dead letters (src/dlq).
 */
export async function ingestCounts(redis: RedisClient, prefix: string): Promise<{ waiting: number; active: number; delayed: number; failed: number }> {
  const key = ingestLogKey(prefix);
  const [length, pending] = await Promise.all([
    redis.xlen(key),
    (redis.xpending(key, INGEST_GROUP) as Promise<[number, ...unknown[]]>).then(([n]) => Number(n), (err: Error) => {
      if (/NOGROUP/.test(err.message)) return 0; // no worker has started yet: everything waits
      throw err;
    }),
  ]);
  return { waiting: Math.max(0, length - pending), active: pending, delayed: 0, failed: 0 };
}
