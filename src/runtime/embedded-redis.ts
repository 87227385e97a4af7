import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { displayRedisUrl, toolConnection, type RedisSettings } from '../queue/connection.js';

export class RedisUnavailableError extends Error {
  constructor(url: string, why: string) {
    super(
      `no Redis answers at ${displayRedisUrl(url)} and ${why}.\n` +
        `Install one (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) ` +
        `or point Falconet at yours with REDIS_URL=redis://host:6379.`,
    );
    this.name = 'RedisUnavailableError';
  }
}

async function answers(url: string): Promise<boolean> {
  const probe = toolConnection(url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export interface EmbeddedRedis {
  stop(): Promise<void>;
}

/**
 * The embedded default, for `falconet start` only: when nothing answers at a loopback Redis URL
 * and redis-server is on PATH, start one as a child (data in ./data/redis, appendonly, loopback
 * only, noeviction: BullMQ must never have keys evicted) and stop it on exit. Returns undefined
 * when a Redis already answers, or when this is not a case for an embedded one (the role then
 * waits for its Redis; `falconet start` without redis-server on PATH logs how to get one).
 * Throws RedisUnavailableError only when a redis-server it started did not come up.
 */
export async function ensureRedis(
  target: RedisSettings | string,
  opts: { embedded: boolean; dataDir?: string; logger: Logger; role?: string },
): Promise<EmbeddedRedis | undefined> {
  const settings = typeof target === 'string' ? { url: target } : target;
  // Sentinel and Cluster name their own servers: never one of ours.
  if (!opts.embedded || settings.sentinels || settings.cluster) return undefined;
  const url = settings.url;
  if (await answers(url)) return undefined;
  const u = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(u.hostname);
  if (!local) return undefined;
  if (!onPath('redis-server')) {
    opts.logger.warn({ role: opts.role, redis: displayRedisUrl(url) }, new RedisUnavailableError(url, 'redis-server is not on PATH to start one').message);
    return undefined;
  }
  const dir = resolve(opts.dataDir ?? 'data/redis');
  mkdirSync(dir, { recursive: true });
  const port = u.port || '6379';
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', port, '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec',
      '--maxmemory-policy', 'noeviction', '--save', '', '--protected-mode', 'yes'],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  opts.logger.info({ port, dir }, 'started embedded redis-server');
  const deadline = Date.now() + 10_000;
  while (!(await answers(url))) {
    if (child.exitCode !== null) throw new RedisUnavailableError(url, `redis-server exited with code ${child.exitCode}`);
    if (Date.now() > deadline) throw new RedisUnavailableError(url, 'the embedded redis-server did not start in 10 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
