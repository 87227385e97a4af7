import { Redis, type RedisOptions } from 'ioredis';

/**
 * Two connection policies (BullMQ "going to production"): the collector's producer fails fast so a
 * Redis outage turns into a 503 instead of a request hanging on an offline queue; workers wait and
 * reconnect forever. Workers pipeline automatically: concurrent commands share one round trip.
 */
export function producerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    // Not auto-pipelined (bench/README.md, "Profile"): group commit already makes one write per
    // batch, and each ioredis auto-pipeline flush builds a Pipeline that copies every BullMQ script
    // command onto itself (~10% of the collector's CPU at one-node load, for no batching gained).
    enableAutoPipelining: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    lazyConnect: true,
    ...extra,
  });
}

export function workerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    lazyConnect: true,
    ...extra,
  });
}

/** Resolves once the connection answers PING, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'wait') await redis.connect().catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (redis.status === 'ready' && (await redis.ping()) === 'PONG') return;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) throw new Error(`Redis did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
