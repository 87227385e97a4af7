import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import type { FalconetConfig } from '../../src/config/load.js';
import { DeadLetterStore } from '../../src/dlq/store.js';
import { REDIS_URL } from './harness.js';

const connections: Redis[] = [];
afterAll(() => {
  for (const c of connections.splice(0)) c.disconnect();
});

/** The dead letters of a test's pipeline (same Redis, same prefix), read as `falconet dlq` does. */
export function deadLetters(config: FalconetConfig): DeadLetterStore {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  connections.push(redis);
  return new DeadLetterStore(redis, { prefix: config.redis.prefix, maxAge: config.dlq.maxAge, maxPerOutput: config.dlq.maxPerOutput });
}
