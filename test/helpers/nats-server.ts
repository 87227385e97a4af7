import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server.js';
import { waitFor } from './wait.js';

const BINARY = '/usr/sbin/nats-server';

/** Whether a TCP connection to the port gets the server's INFO line. */
function answersInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    const done = (ok: boolean) => (socket.destroy(), resolve(ok));
    socket.setTimeout(1000, () => done(false));
    socket.once('data', (chunk: Buffer) => done(chunk.toString().startsWith('INFO ')));
    socket.once('error', () => done(false));
  });
}

/**
 * A nats-server of a test's own with JetStream (never a machine's service on 4222): a free port
 * on loopback and a temp store dir. Stop and start it again (same port, same store) to simulate a
 * broker restart; JetStream recovers its streams from the store.
 */
export class TestNats {
  private child?: ChildProcess;
  private log = '';
  readonly dir = mkdtempSync(join(tmpdir(), 'falconet-nats-'));
  port = 0;

  /** `args`: more nats-server arguments (`--user`, `--tls`…). */
  constructor(private readonly opts: { args?: string[] } = {}) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** What the server logged (stderr), for assertion messages. */
  get output(): string {
    return this.log;
  }

  async start(): Promise<this> {
    if (this.port === 0) this.port = await freePort();
    const child = spawn(BINARY, ['-js', '-a', '127.0.0.1', '-p', String(this.port), '-sd', this.dir, ...(this.opts.args ?? [])], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr!.on('data', (c: Buffer) => (this.log += c));
    // "Server is ready" comes after JetStream has recovered its streams from the store dir.
    await waitFor(() => {
      if (child.exitCode !== null) throw new Error(`nats-server exited ${child.exitCode}: ${this.log.slice(-500)}`);
      return this.log.includes('Server is ready');
    }, { timeoutMs: 20_000, what: `nats-server on ${this.port}` });
    await waitFor(() => answersInfo(this.port), { timeoutMs: 5_000, what: `nats-server on ${this.port} to answer` });
    return this;
  }

  /** SIGTERM: the server closes client connections and exits (a rolling restart). */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
