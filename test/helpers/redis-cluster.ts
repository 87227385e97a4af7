import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './redis-server.js';
import { waitFor } from './wait.js';

/** A 3-master Redis Cluster on loopback ports of its own, each node in its own temp dir (never 6379). */
export class TestRedisCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'falconet-cluster-'));
  readonly ports: number[] = [];
  private readonly children: ChildProcess[] = [];

  get nodes(): Array<{ host: string; port: number }> {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  async start(masters = 3): Promise<this> {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      const dir = join(this.dir, String(port));
      mkdirSync(dir);
      this.ports.push(port);
      this.children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
        '--cluster-config-file', 'nodes.conf', '--save', '', '--appendonly', 'yes', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' }));
    }
    for (const port of this.ports) await this.untilAnswers(port, 'PONG', (r) => r.ping());
    execFileSync('redis-cli', ['--cluster', 'create', ...this.ports.map((p) => `127.0.0.1:${p}`), '--cluster-yes'], { stdio: 'ignore', timeout: 30_000 });
    for (const port of this.ports) await this.untilAnswers(port, 'cluster_state:ok', (r) => r.cluster('INFO') as Promise<string>);
    return this;
  }

  private async untilAnswers(port: number, expected: string, ask: (r: Redis) => Promise<string>): Promise<void> {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    try {
      await waitFor(async () => (await ask(probe).catch(() => '')).includes(expected), { timeoutMs: 20_000, what: `${expected} from cluster node ${port}` });
    } finally {
      probe.disconnect();
    }
  }

  /** Every key on every node, with the node's port. */
  async keys(pattern: string): Promise<Array<{ port: number; key: string }>> {
    const out: Array<{ port: number; key: string }> = [];
    for (const port of this.ports) {
      const r = new Redis(port, '127.0.0.1');
      try {
        for (const key of await r.keys(pattern)) out.push({ port, key });
      } finally {
        r.disconnect();
      }
    }
    return out;
  }

  async destroy(): Promise<void> {
    await Promise.all(this.children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : (c.once('exit', r), c.kill('SIGTERM'))))));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
