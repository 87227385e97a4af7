import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import { producerConnection, waitForRedis } from '../../src/queue/connection.js';
import { checkDurability, NotDurableError } from '../../src/queue/durability.js';
import { startWorker } from '../../src/worker/service.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { testConfig } from '../helpers/harness.js';
import { TestRedis } from '../helpers/redis-server.js';

function capturingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { logger: pino({ level: 'warn' }, stream), lines };
}

async function check(url: string, requireDurable = false) {
  const redis = producerConnection(url);
  await waitForRedis(redis);
  const { logger, lines } = capturingLogger();
  try {
    const reports = await checkDurability(redis, { requireDurable, logger, role: 'test', where: url });
    return { reports, lines };
  } finally {
    redis.disconnect();
  }
}

describe('start-up check of what Redis keeps', () => {
  const durable = new TestRedis();
  const lossy = new TestRedis({ aof: false, args: ['--maxmemory-policy', 'allkeys-lru'] });
  // A managed-Redis stand-in: the ACL user may not run CONFIG or INFO.
  const managed = new TestRedis({ args: ['--user', 'default', 'off', '--user', 'app', 'on', '>app-pw', '~*', '&*', '+@all', '-config', '-info'], auth: { username: 'app', password: 'app-pw' } });
  beforeAll(async () => {
    await Promise.all([durable.start(), lossy.start(), managed.start()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([durable.destroy(), lossy.destroy(), managed.destroy()]);
  });

  it('is quiet for noeviction + appendonly', async () => {
    const { reports, lines } = await check(durable.url);
    expect(reports[0]).toMatchObject({ maxmemoryPolicy: 'noeviction', appendonly: true });
    expect(lines).toEqual([]);
  });

  it('warns, saying what to set, when keys may be evicted and nothing persists', async () => {
    const { lines } = await check(lossy.url);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toContain('maxmemory-policy is allkeys-lru');
    expect(lines[0]!.msg).toContain('set maxmemory-policy noeviction');
    expect(lines[0]!.msg).toContain('nothing persists');
    expect(lines[0]!.msg).toContain('set appendonly yes');
  });

  it('refuses with redis.requireDurable: a worker does not start', async () => {
    await expect(check(lossy.url, true)).rejects.toBeInstanceOf(NotDurableError);
    const config = testConfig({ redis: { url: lossy.url, requireDurable: true }, outputs: { out: { type: 'stdout' } }, routes: [{ outputs: ['out'] }] });
    await expect(startWorker(config, pino({ level: 'silent' }), createMetrics())).rejects.toThrow(/refusing to start \(redis\.requireDurable: true\)/);
  });

  it('warns once and carries on when the server forbids CONFIG GET and INFO', async () => {
    const { reports, lines } = await check(`redis://app:app-pw@127.0.0.1:${managed.port}`);
    expect(reports[0]!.maxmemoryPolicy).toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/cannot read the eviction policy.*carrying on/);
  });
});
