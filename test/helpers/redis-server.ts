import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { TestDaemon } from './daemon.js';
import { waitFor } from './wait.js';

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * A redis-server of a test's own (never the shared one at 6379): a free port, a temp dir, AOF
 * `everysec` like production unless `aof: false`. Stop and start it again on the same port and
 * data to simulate an outage.
 */
export class TestRedis extends TestDaemon {
  port = 0;

  /** `debug`: allow DEBUG SLEEP from loopback (a Redis that stalls, for deadline tests). */
  /** `args`: more redis-server arguments (a later one overrides an earlier, e.g. --maxmemory-policy). */
  /** `auth`: the ACL user the readiness probe logs in as (when `args` turns the default user off). */
  constructor(private readonly opts: { aof?: boolean; debug?: boolean; args?: string[]; auth?: { username: string; password: string } } = {}) {
    super('redis');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    const aof = this.opts.aof ?? true;
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--maxmemory-policy', 'noeviction',
        '--appendonly', aof ? 'yes' : 'no', '--appendfsync', 'everysec', ...(this.opts.debug ? ['--enable-debug-command', 'local'] : []), ...(this.opts.args ?? [])],
      { stdio: 'ignore' },
    );
    const probe = new Redis(this.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0, ...this.opts.auth });
    probe.on('error', () => undefined);
    try {
      // AOF loading answers -LOADING to PING until done.
      await waitFor(async () => (await probe.ping()) === 'PONG', { timeoutMs: 20_000, what: `redis-server on ${this.port}` });
    } finally {
      probe.disconnect();
    }
    return this;
  }

}
