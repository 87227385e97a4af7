import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
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
 * rabbitmq user; the scripts under /usr/lib/rabbitmq/bin run as whoever calls them. They need no
 * RABBITMQ_ALLOW_INPUT (unset means `-noinput`, right for a background node); the Erlang cookie
 * is read from $HOME, so HOME is the temp dir and rabbitmqctl gets the same one.
 */
const BIN = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') ? '/usr/lib/rabbitmq/bin' : '/usr/sbin';

export interface RabbitUser {
  username: string;
  password: string;
}

/** RabbitMQ's stored password: base64(salt ++ sha256(salt ++ password)), salt 4 random bytes. */
function passwordHash(password: string): string {
  const salt = randomBytes(4);
  return Buffer.concat([salt, createHash('sha256').update(Buffer.concat([salt, Buffer.from(password)])).digest()]).toString('base64');
}

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
  /** The amqps:// listener's port, when the broker was given `tls`. */
  tlsPort = 0;
  private distPort = 0;
  private child?: ChildProcess;
  private exited?: Promise<void>;

  /**
   * `vhosts` and `users` (each with full rights on every vhost, like guest) are imported from a
   * definitions file at first boot: no rabbitmqctl round trips, which take a second or more each.
   * `tls` (PEM file paths) adds an amqps:// listener that requires a client certificate signed by `ca`.
   */
  constructor(private readonly opts: { vhosts?: string[]; users?: RabbitUser[]; tls?: { ca: string; cert: string; key: string } } = {}) {}

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** amqp://guest:guest@127.0.0.1:<port>/<vhost> (guest may log in over loopback). */
  url(vhost = ''): string {
    return `amqp://127.0.0.1:${this.port}/${encodeURIComponent(vhost)}`;
  }

  tlsUrl(vhost = ''): string {
    return `amqps://127.0.0.1:${this.tlsPort}/${encodeURIComponent(vhost)}`;
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
      const conf = [`listeners.tcp.1 = 127.0.0.1:${this.port}`, 'log.file.level = warning', 'log.console = false', `load_definitions = ${join(this.dir, 'definitions.json')}`];
      const tls = this.opts.tls;
      if (tls) {
        this.tlsPort = await freePort();
        conf.push(
          `listeners.ssl.1 = 127.0.0.1:${this.tlsPort}`,
          `ssl_options.cacertfile = ${tls.ca}`,
          `ssl_options.certfile = ${tls.cert}`,
          `ssl_options.keyfile = ${tls.key}`,
          'ssl_options.verify = verify_peer',
          'ssl_options.fail_if_no_peer_cert = true',
        );
      }
      writeFileSync(join(this.dir, 'definitions.json'), JSON.stringify(this.definitions()));
      writeFileSync(join(this.dir, 'rabbitmq.conf'), `${conf.join('\n')}\n`);
      writeFileSync(join(this.dir, 'enabled_plugins'), '[].\n');
      writeFileSync(join(this.dir, 'rabbitmq-env.conf'), '');
      writeFileSync(join(this.dir, '.erlang.cookie'), randomBytes(16).toString('hex'), { mode: 0o400 });
    }
    const out = openSync(join(this.dir, 'server.out'), 'a');
    // Its own process group, so that kill() takes the shell and the Erlang VM under it.
    const child = spawn(join(BIN, 'rabbitmq-server'), [], { env: this.env(), cwd: this.dir, detached: true, stdio: ['ignore', out, out] });
    closeSync(out);
    this.child = child;
    // A detached node outlives a test process that dies without afterAll: take it along.
    const reap = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    };
    process.once('exit', reap);
    this.exited = new Promise((resolve) => child.once('exit', () => (process.off('exit', reap), resolve())));
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

  /** With definitions to load, the broker creates no default user or vhost: guest and / are listed here. */
  private definitions() {
    const vhosts = ['/', ...(this.opts.vhosts ?? [])];
    const users = [{ username: 'guest', password: 'guest' }, ...(this.opts.users ?? [])];
    return {
      users: users.map((u) => ({ name: u.username, password_hash: passwordHash(u.password), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: u.username === 'guest' ? ['administrator'] : [] })),
      vhosts: vhosts.map((name) => ({ name })),
      permissions: users.flatMap((u) => vhosts.map((vhost) => ({ user: u.username, vhost, configure: '.*', write: '.*', read: '.*' }))),
    };
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
