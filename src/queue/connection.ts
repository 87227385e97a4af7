import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
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

/** Where Redis is and how to reach it: `FalconetConfig['redis']`, or a bare URL (tests, tools). */
export interface RedisSettings {
  url: string;
  tls?: { ca?: string; cert?: string; key?: string; insecureSkipVerify?: boolean };
  sentinels?: Array<{ host: string; port: number }>;
  sentinelName?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  cluster?: Array<{ host: string; port: number }>;
}

/** A single-node/Sentinel client or a Cluster client: BullMQ and Falconet's stores take either. */
export type RedisClient = Redis | Cluster;

function pem(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.includes('-----BEGIN') ? value : readFileSync(value, 'utf8');
}

/** TLS options for rediss:// (or any url with redis.tls set); undefined for plain redis://. */
function tlsOptions(settings: RedisSettings): ConnectionOptions | undefined {
  const secure = settings.url.startsWith('rediss://');
  if (!secure && !settings.tls) return undefined;
  const t = settings.tls ?? {};
  return { ca: pem(t.ca), cert: pem(t.cert), key: pem(t.key), rejectUnauthorized: !t.insecureSkipVerify };
}

/** User, password and db of the url: for Sentinel and Cluster the url names no host to connect to. */
function credentials(url: string): Pick<RedisOptions, 'username' | 'password' | 'db'> {
  try {
    const u = new URL(url);
    const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
    return {
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * The one place a Redis connection is made (single node, Sentinel or Cluster), with a role's
 * policy. A Sentinel client asks the sentinels for the master on every (re)connect and listens
 * for +switch-master, so a failover is followed within a reconnect; a master demoted to replica
 * answers READONLY, which makes the client reconnect (and ask the sentinels again).
 */
export function connectRedis(target: RedisSettings | string, policy: RedisOptions): RedisClient {
  const settings = typeof target === 'string' ? { url: target } : target;
  const tls = tlsOptions(settings);
  const common: RedisOptions = {
    ...policy,
    ...(tls ? { tls } : {}),
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  if (settings.cluster) {
    const { retryStrategy, enableOfflineQueue, lazyConnect, enableAutoPipelining, ...redisOptions } = common;
    const { db: _db, ...auth } = credentials(settings.url); // a Cluster has only db 0
    return new Cluster(settings.cluster, {
      redisOptions: { ...redisOptions, ...auth },
      clusterRetryStrategy: (times) => (retryStrategy ? (retryStrategy(times) ?? null) : reconnectDelay(times)),
      enableOfflineQueue,
      lazyConnect,
      enableAutoPipelining,
      slotsRefreshTimeout: 2000,
    });
  }
  if (settings.sentinels) {
    return new Redis({
      ...common,
      ...credentials(settings.url),
      sentinels: settings.sentinels,
      name: settings.sentinelName,
      sentinelUsername: settings.sentinelUsername,
      sentinelPassword: settings.sentinelPassword,
      // Sentinels speak TLS when the data nodes do (rediss://).
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      sentinelRetryStrategy: reconnectDelay,
      failoverDetector: true,
    });
  }
  return new Redis(settings.url, common);
}

export function producerConnection(target: RedisSettings | string, extra: RedisOptions = {}): RedisClient {
  return connectRedis(target, {
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

export function workerConnection(target: RedisSettings | string, extra: RedisOptions = {}): RedisClient {
  return connectRedis(target, {
    retryStrategy: reconnectDelay,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    lazyConnect: true,
    ...extra,
  });
}

/** A one-shot connection for a CLI command or a probe: no reconnecting, fails fast. */
export function toolConnection(target: RedisSettings | string, extra: RedisOptions = {}): RedisClient {
  return connectRedis(target, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null, ...extra });
}

/** Where Redis is, as logs may show it: the url without its password, or the sentinels/cluster nodes. */
export function describeRedis(target: RedisSettings | string): string {
  const settings = typeof target === 'string' ? { url: target } : target;
  const nodes = (list: Array<{ host: string; port: number }>) => list.map((n) => `${n.host}:${n.port}`).join(',');
  // With Sentinel or Cluster the url carries only credentials: name the user, never the password.
  const user = credentials(settings.url).username;
  const as = user ? ` as ${user}` : '';
  if (settings.cluster) return `cluster ${nodes(settings.cluster)}${as}`;
  if (settings.sentinels) return `sentinel master "${settings.sentinelName}" via ${nodes(settings.sentinels)}${as}`;
  return displayRedisUrl(settings.url);
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
export function redisErrorHandler(redis: RedisClient, opts: { url: RedisSettings | string; role: string; logger: Logger }): (err: Error) => void {
  const url = describeRedis(opts.url);
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

const AUTH_ERRORS = /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i;

/**
 * A refused login is not an outage: reconnecting will not fix it. Logged once per connection, as
 * an error naming where (the url without its password) and what to check.
 */
export function reportLoginFailures(redis: RedisClient, opts: { target: RedisSettings | string; role: string; logger: Logger }): void {
  let reported = false;
  redis.on('ready', () => (reported = false));
  redis.on('error', (err: Error) => {
    if (reported || !AUTH_ERRORS.test(err.message)) return;
    reported = true;
    const where = describeRedis(opts.target);
    opts.logger.error(
      { role: opts.role, redis: where, err: err.message },
      `Redis at ${where} refuses the login (${err.message}); check the ACL user and password in redis.url${typeof opts.target !== 'string' && opts.target.sentinels ? ' and redis.sentinelPassword' : ''}`,
    );
  });
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
  redis: RedisClient,
  opts: { url: RedisSettings | string; role: string; logger: Logger; signal?: AbortSignal; logEveryMs?: number },
): Promise<void> {
  if (redis.status === 'wait') redis.connect().catch(() => undefined);
  const url = describeRedis(opts.url);
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
export async function waitForRedis(redis: RedisClient, timeoutMs = 5000): Promise<void> {
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
