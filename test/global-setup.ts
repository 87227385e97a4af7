import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ensureRedis } from '../src/runtime/embedded-redis.js';

/**
 * `npm test` on a machine with no Redis running: start a throwaway one (like `npm start` does) when
 * nothing answers at REDIS_URL and redis-server is installed; stop it when the run ends.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const dir = mkdtempSync(join(tmpdir(), 'falconet-test-redis-'));
  const redis = await ensureRedis(url, { embedded: true, dataDir: dir, logger: pino({ level: 'silent' }) });
  return async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
