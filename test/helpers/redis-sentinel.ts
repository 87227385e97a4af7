import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.js';
import { waitFor } from './wait.js';

const MASTER_NAME = 'falconet';

/**
 * A master, a replica and three sentinels (`redis-server --sentinel`) on loopback ports of their
 * own, each in its own temp dir (never 6379). The sentinels see the master down after 1 s.
 */
export class TestRedisSentinel {
  readonly dir = mkdtempSync(join(tmpdir(), 'falconet-sentinel-'));
  readonly name = MASTER_NAME;
  masterPort = 0;
  replicaPort = 0;
  readonly sentinelPorts: number[] = [];
  private readonly procs = new Map<number, ChildProcess>();

  get sentinels(): Array<{ host: string; port: number }> {
    return this.sentinelPorts.map((port) => ({ host: '127.0.0.1', port }));
  }

  private data(port: number, extra: string[]): ChildProcess {
    const dir = join(this.dir, String(port));
    mkdirSync(dir);
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes',
      '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction', ...extra], { stdio: 'ignore' });
    this.procs.set(port, child);
    return child;
  }

  async start(): Promise<this> {
    this.masterPort = await freePort();
    this.replicaPort = await freePort();
    this.data(this.masterPort, []);
    this.data(this.replicaPort, ['--replicaof', '127.0.0.1', String(this.masterPort)]);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      this.sentinelPorts.push(port);
      const dir = join(this.dir, `sentinel-${port}`);
      mkdirSync(dir);
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(conf, [
        `port ${port}`, 'bind 127.0.0.1', `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${this.masterPort} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`, '',
      ].join('\n'));
      this.procs.set(port, spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    }
    // Ready: the replica is in sync and every sentinel knows the replica and the other two.
    await this.until(this.replicaPort, async (r) => /master_link_status:up/.test(await r.info('replication')), 'replica in sync');
    for (const port of this.sentinelPorts) {
      await this.until(port, async (r) => {
        const master = (await r.call('SENTINEL', 'MASTER', MASTER_NAME)) as string[];
        const field = (k: string) => Number(master[master.indexOf(k) + 1]);
        return field('num-slaves') === 1 && field('num-other-sentinels') === 2;
      }, `sentinel ${port} sees replica and peers`);
    }
    return this;
  }

  /** SIGKILL: the master dies without a word, as a node that loses power. */
  killMaster(): void {
    this.procs.get(this.masterPort)?.kill('SIGKILL');
  }

  async masterAddress(): Promise<number> {
    const r = new Redis(this.sentinelPorts[0]!, '127.0.0.1');
    try {
      const [, port] = (await r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[];
      return Number(port);
    } finally {
      r.disconnect();
    }
  }

  private async until(port: number, check: (r: Redis) => Promise<boolean>, what: string): Promise<void> {
    const r = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    try {
      await waitFor(() => check(r).catch(() => false), { timeoutMs: 30_000, intervalMs: 100, what });
    } finally {
      r.disconnect();
    }
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.procs.values()].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
