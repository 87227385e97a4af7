import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from './redis-server.js';
import { TestDaemon } from './daemon.js';
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
export class TestNats extends TestDaemon {
  private log = '';
  port = 0;

  /** `args`: more nats-server arguments (`--user`, `--tls`…). */
  constructor(private readonly opts: { args?: string[] } = {}) {
    super('nats');
  }

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

}

/** A message as a consumer reads it back from the stream. */
export interface StoredNatsMessage {
  seq: number;
  subject: string;
  headers: Array<[string, string]>;
  body: string;
}

/** A plain client of the test's own (not the output under test): stream admin and reading back. */
export class NatsProbe {
  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
  ) {}

  static async connect(url: string, opts: Parameters<typeof connect>[0] = {}): Promise<NatsProbe> {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100, ...opts });
    return new NatsProbe(nc, await jetstreamManager(nc));
  }

  /** A stream over `subjects` with a duplicate window (JetStream's default is 2 min). */
  async createStream(name: string, subjects: string[], more: { duplicate_window?: number; max_msg_size?: number } = {}): Promise<void> {
    await this.jsm.streams.add({ name, subjects, ...more });
  }

  async count(stream: string): Promise<number> {
    return (await this.jsm.streams.info(stream)).state.messages;
  }

  /** Every message of the stream, in order, through an ordered consumer. */
  async readAll(stream: string): Promise<StoredNatsMessage[]> {
    const total = await this.count(stream);
    const out: StoredNatsMessage[] = [];
    if (total === 0) return out;
    const consumer = await jetstream(this.nc).consumers.get(stream);
    const deadline = Date.now() + 15_000;
    while (out.length < total) {
      if (Date.now() > deadline) throw new Error(`read ${out.length} of ${total} messages of ${stream}`);
      const batch = await consumer.fetch({ max_messages: total - out.length, expires: 2_000 });
      for await (const m of batch) {
        const headers: Array<[string, string]> = [];
        for (const key of m.headers?.keys() ?? []) for (const v of m.headers!.values(key)) headers.push([key, v]);
        out.push({ seq: m.seq, subject: m.subject, headers, body: m.string() });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
