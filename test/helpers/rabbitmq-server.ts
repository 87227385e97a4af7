import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { freePort } from './redis-server.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/**
 * Debian's /usr/sbin wrappers refuse to run as anyone but root or rabbitmq and `su` to the
 * rabbitmq user; the scripts under /usr/lib/rabbitmq/bin run as whoever calls them.
 */
const BIN = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? '/usr/lib/rabbitmq/bin' : '/usr/sbin';

/**
 * A rabbitmq-server of a test's own (never the machine's at 5672): its own node name, AMQP and
 * distribution ports, and everything (mnesia, logs, pid file, Erlang cookie: HOME) in a temp dir.
 * No plugins (management off), listening on 127.0.0.1 only. `kill()` then `start()` is a crash
 * and restart on the same data; `rabbitmqctl(...)` talks to this node.
 */
export class TestRabbit {
  readonly dir = mkdtempSync(join(tmpdir(), 'falconet-rabbitmq-'));
  readonly node = `falconet-test-${randomBytes(4).toString('hex')}@localhost`;
  port = 0;
  private distPort = 0;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** amqp://guest:guest@127.0.0.1:<port>/<vhost> (guest may log in over loopback). */
  url(vhost = ''): string {
    return `amqp://127.0.0.1:${this.port}/${encodeURIComponent(vhost)}`;
  }

  private env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      HOME: this.dir,
      RABBITMQ_NODENAME: this.node,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      RABBITMQ_MNESIA_BASE: join(this.dir, 'mnesia'),
      RABBITMQ_LOG_BASE: join(this.dir, 'log'),
      RABBITMQ_PID_FILE: join(this.dir, 'rabbitmq.pid'),
      RABBITMQ_CONFIG_FILE: join(this.dir, 'rabbitmq.conf'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, 'enabled_plugins'),
      // Not /etc/rabbitmq/rabbitmq-env.conf: it names the machine's node.
      RABBITMQ_CONF_ENV_FILE: join(this.dir, 'rabbitmq-env.conf'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
  }

  async start(): Promise<this> {
    if (this.port === 0) {
      this.port = await freePort();
      this.distPort = await freePort();
      writeFileSync(join(this.dir, 'rabbitmq.conf'), [`listeners.tcp.1 = 127.0.0.1:${this.port}`, 'log.file.level = warning', 'log.console = false', ''].join('\n'));
      writeFileSync(join(this.dir, 'enabled_plugins'), '[].\n');
      writeFileSync(join(this.dir, 'rabbitmq-env.conf'), '');
      writeFileSync(join(this.dir, '.erlang.cookie'), randomBytes(16).toString('hex'), { mode: 0o400 });
    }
    const out = openSync(join(this.dir, 'server.out'), 'a');
    // Its own process group, so that kill() takes the shell and the Erlang VM under it.
    const child = spawn(join(BIN, 'rabbitmq-server'), [], { env: this.env(), cwd: this.dir, detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const state = await waitFor(
      async () => {
        // An exited server is final: stop polling rather than wait out the deadline.
        if (child.exitCode !== null || child.signalCode !== null) return 'exited';
        const conn = await connect(this.url(), { timeout: 2000 });
        await conn.close();
        return 'ready';
      },
      { timeoutMs: 60_000, intervalMs: 200, what: `rabbitmq-server ${this.node} on ${this.port}` },
    );
    if (state === 'exited') throw new Error(`rabbitmq-server exited: ${this.output().slice(-2000)}`);
    return this;
  }

  output(): string {
    try {
      return readFileSync(join(this.dir, 'server.out'), 'utf8');
    } catch {
      return '';
    }
  }

  /** rabbitmqctl -n <this node> …; resolves to its stdout. */
  async rabbitmqctl(...args: string[]): Promise<string> {
    const { stdout } = await run(join(BIN, 'rabbitmqctl'), ['-n', this.node, ...args], { env: this.env(), cwd: this.dir, timeout: 60_000 });
    return stdout;
  }

  /** A vhost and a user with full rights on it (plus guest's, for the test's own consumers). */
  async addVhost(vhost: string, user?: { username: string; password: string }): Promise<void> {
    await this.rabbitmqctl('add_vhost', vhost);
    await this.rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
    if (user) {
      await this.rabbitmqctl('add_user', user.username, user.password);
      await this.rabbitmqctl('set_permissions', '-p', vhost, user.username, '.*', '.*', '.*');
    }
  }

  private async signal(sig: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // Already gone.
    }
    await this.exited;
  }

  /** SIGKILL to the whole process group: a crash, nothing flushed beyond what the broker already fsynced. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM: the VM shuts down cleanly. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const timer = setTimeout(() => void this.kill(), 20_000);
    await this.signal('SIGTERM');
    clearTimeout(timer);
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
