import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

/**
 * Two connection policies (BullMQ "going to production"): the collector's producer fails fast so a
 * Redis outage turns into a 503 instead of a request hanging on an offline queue; workers wait and
 * reconnect forever. Workers pipeline automatically: concurrent commands share one round trip.
 */
/**
 * Reconnect backoff, capped at 1 s: ioredis 6's default grows to 5 s, which made every role come
 * back up to 5 s after Redis did. A reconnect attempt is one TCP connect: cheap to repeat.
 */
export function reconnectDelay(times: number): number {
  return Math.min(100 * 2 ** Math.max(0, times - 1), 1000) + Math.floor(Math.random() * 100);
}

export function producerConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    retryStrategy: reconnectDelay,
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
    retryStrategy: reconnectDelay,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    lazyConnect: true,
    ...extra,
  });
}

/** The URL as logs may show it: a password in it is replaced by ***. */
export function displayRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparsable redis.url)';
  }
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

function isConnectionError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (code !== undefined && CONNECTION_ERRORS.has(code)) || /Connection is closed|Stream isn't writeable|connect ETIMEDOUT/.test(err.message);
}

/**
 * One error handler for a role's Redis connection and every BullMQ object on it: during an outage
 * each reconnect attempt of each connection reports an error, so the first one is logged (naming
 * the URL and the role) and the rest are quiet until the connection is ready again.
 */
export function redisErrorHandler(redis: Redis, opts: { url: string; role: string; logger: Logger }): (err: Error) => void {
  const url = displayRedisUrl(opts.url);
  let downSince: number | undefined;
  redis.on('ready', () => {
    if (downSince === undefined) return;
    opts.logger.info({ role: opts.role, redis: url, downMs: Date.now() - downSince }, `Redis at ${url} answers again (role ${opts.role}); resuming`);
    downSince = undefined;
  });
  return (err) => {
    if (!isConnectionError(err)) {
      opts.logger.error({ role: opts.role, redis: url, err: err.message }, 'redis error');
      return;
    }
    if (downSince !== undefined) return;
    downSince = Date.now();
    opts.logger.warn({ role: opts.role, redis: url, err: err.message }, `Redis at ${url} is unreachable (role ${opts.role}); reconnecting every second, work resumes when it answers`);
  };
}

export class AbortedError extends Error {
  constructor() {
    super('stopped while waiting for Redis');
    this.name = 'AbortedError';
  }
}

/**
 * Waits as long as it takes for the connection to answer PING (ioredis reconnects with a backoff
 * capped at 2 s), logging once per `logEveryMs` what it waits for; rejects with AbortedError
 * when `signal` fires (SIGTERM while Redis is unreachable).
 */
export async function untilRedisAnswers(
  redis: Redis,
  opts: { url: string; role: string; logger: Logger; signal?: AbortSignal; logEveryMs?: number },
): Promise<void> {
  if (redis.status === 'wait') redis.connect().catch(() => undefined);
  const url = displayRedisUrl(opts.url);
  const started = Date.now();
  let nextLog = started + 1000; // a Redis starting alongside us is no news
  let logged = false;
  let wake: (() => void) | undefined;
  const onAbort = () => wake?.();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    while (!opts.signal?.aborted) {
      if (redis.status === 'ready') {
        const pong = await Promise.race([redis.ping().catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
        if (pong === 'PONG') {
          if (logged) opts.logger.info({ role: opts.role, redis: url, waitedMs: Date.now() - started }, `Redis at ${url} answers (role ${opts.role})`);
          return;
        }
      }
      if (Date.now() >= nextLog) {
        opts.logger.warn(
          { role: opts.role, redis: url, waitedMs: Date.now() - started },
          `waiting for Redis at ${url} (role ${opts.role}); it starts working when Redis answers`,
        );
        logged = true;
        nextLog = Date.now() + (opts.logEveryMs ?? 5000);
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
  throw new AbortedError();
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
