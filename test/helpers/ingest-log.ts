import { Redis } from 'ioredis';
import { ingestCounts, ingestLogKey, parseEntry, type IngestEntry } from '../../src/queue/ingest-log.js';

/** Every entry still in a prefix's ingest log (not yet acknowledged by a router), oldest first. */
export async function ingestEntries(url: string, prefix: string): Promise<IngestEntry[]> {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  try {
    const raw = (await redis.xrange(ingestLogKey(prefix), '-', '+')) as Array<[string, string[]]>;
    return raw.map(([id, fields]) => parseEntry(id, fields));
  } finally {
    redis.disconnect();
  }
}

/** Waiting (unread) and active (read, unacknowledged) entries of a prefix's ingest log. */
export async function ingestBacklog(url: string, prefix: string): Promise<{ waiting: number; active: number }> {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  try {
    const { waiting, active } = await ingestCounts(redis, prefix);
    return { waiting, active };
  } finally {
    redis.disconnect();
  }
}

/** True once every entry was routed and acknowledged. */
export async function ingestDrained(url: string, prefix: string): Promise<boolean> {
  const { waiting, active } = await ingestBacklog(url, prefix);
  return waiting === 0 && active === 0;
}
