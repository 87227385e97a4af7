import type { NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { DeliveryError } from '../kit/errors.js';
import { natsTransport } from './library.js';

/**
 * The one connection of a NATS output instance. The first connection is dialled here, again and
 * again with backoff until it succeeds or the output closes; once connected, the client's own
 * reconnect takes over (never giving up: `maxReconnectAttempts: -1`), with the same backoff. A
 * connection the client closes for good (two authorization failures in a row) is dialled again.
 *
 * While it is down, `ready()` fails at once with a retryable error (the alerts wait in the queue,
 * rather than in the client's reconnect buffer, where a send would hang until its timeout).
 */

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 5_000;

/** Exponential backoff from the time the link went down, spread by a per-instance jitter factor. */
export function backoffMs(downForMs: number, jitter: number): number {
  return Math.round(Math.min(BACKOFF_MAX_MS, Math.max(BACKOFF_BASE_MS, downForMs / 2)) * jitter);
}

type Listener = () => void;

export interface LinkOptions {
  /** Everything but the reconnect policy, which the link owns. */
  connection: NodeConnectionOptions;
  /** For errors and logs: never a URL with credentials. */
  target: string;
  logger: Logger;
  /** Maps a connect or connection error to the error `ready()` throws. */
  classify: (err: unknown) => DeliveryError;
}

export class NatsLink {
  private nc?: NatsConnection;
  private up = false;
  private closing = false;
  /** True until the first dial has failed: sends wait for it rather than failing at once. */
  private firstDial = true;
  private lastError?: unknown;
  private lastLogged?: string;
  private downSince = Date.now();
  private timer?: NodeJS.Timeout;
  private readonly listeners = new Set<Listener>();
  private readonly jitter = 0.8 + Math.random() * 0.4;

  constructor(private readonly opts: LinkOptions) {
    this.dial();
  }

  get connected(): boolean {
    return this.up;
  }

  /** The connection when it is up; waits for the first dial; throws retryably while down. */
  async ready(signal: AbortSignal): Promise<NatsConnection> {
    for (;;) {
      if (this.closing) throw new DeliveryError(`${this.opts.target}: output closed`, { retryable: true, reason: 'network' });
      if (signal.aborted) throw timeoutError(this.opts.target, 'connecting');
      if (this.up && this.nc) return this.nc;
      if (!this.firstDial) throw this.downError();
      await new Promise<void>((resolve) => {
        const done = () => (this.listeners.delete(done), signal.removeEventListener('abort', done), resolve());
        this.listeners.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** A promise that rejects (retryably) when the connection drops; `dispose` when done with it. */
  whileUp(): { dropped: Promise<never>; dispose(): void } {
    let listener: Listener = () => undefined;
    const dropped = new Promise<never>((_resolve, reject) => {
      listener = () => {
        if (!this.up || this.closing) reject(this.downError());
      };
      this.listeners.add(listener);
    });
    dropped.catch(() => undefined);
    return { dropped, dispose: () => this.listeners.delete(listener) };
  }

  /** Drains the connection (pending publishes flushed, then closed) and ends every reconnect. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.timer);
    this.notify();
    const nc = this.nc;
    this.nc = undefined;
    if (!nc || nc.isClosed()) return;
    // A drain needs the server; while it is away, close at once (the queue still holds the alerts).
    if (this.up) await nc.drain().catch(() => nc.close());
    else await nc.close();
  }

  private downError(): DeliveryError {
    const why = this.lastError === undefined ? undefined : this.opts.classify(this.lastError);
    // A permanent reason, or a refused login (retryable, but the reason to act on), is said as is.
    if (why && (!why.retryable || why.reason === 'auth_error')) return why;
    const detail = why ? why.message.replace(`${this.opts.target}: `, '') : 'disconnected';
    return new DeliveryError(`${this.opts.target}: not connected (${detail}); reconnecting`, { retryable: true, reason: 'network' });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private setDown(err: unknown): void {
    if (this.up) this.downSince = Date.now();
    this.up = false;
    this.lastError = err;
    this.notify();
  }

  private dial(): void {
    if (this.closing) return;
    natsTransport().connect({
      ...this.opts.connection,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectDelayHandler: () => backoffMs(Date.now() - this.downSince, this.jitter),
    }).then(
      (nc) => {
        if (this.closing) return void nc.close();
        this.nc = nc;
        this.up = true;
        this.lastError = undefined;
        this.firstDial = false;
        this.lastLogged = undefined;
        this.opts.logger.info({ server: nc.getServer() }, 'nats connected');
        this.notify();
        void this.watch(nc);
      },
      (err: unknown) => {
        this.firstDial = false;
        this.setDown(err);
        // Once per change of reason, not once per attempt of a long outage.
        const why = this.opts.classify(err).message;
        if (why !== this.lastLogged) this.opts.logger.warn({ err: why }, 'nats connect failed; retrying with backoff');
        this.lastLogged = why;
        this.redial();
      },
    );
  }

  private redial(): void {
    if (this.closing) return;
    this.timer = setTimeout(() => this.dial(), backoffMs(Date.now() - this.downSince, this.jitter));
    this.timer.unref();
  }

  private async watch(nc: NatsConnection): Promise<void> {
    void nc.closed().then((err) => {
      if (this.closing || this.nc !== nc) return;
      this.nc = undefined;
      this.setDown(err ?? new Error('connection closed'));
      this.opts.logger.warn({ err: err ? this.opts.classify(err).message : undefined }, 'nats connection closed; dialling again');
      this.redial();
    });
    for await (const status of nc.status()) {
      if (this.nc !== nc) return;
      switch (status.type) {
        case 'disconnect':
          this.setDown(new Error(`disconnected from ${status.server}`));
          this.opts.logger.warn({ server: status.server }, 'nats disconnected; reconnecting');
          break;
        case 'reconnect':
          this.up = true;
          this.lastError = undefined;
          this.opts.logger.info({ server: status.server }, 'nats reconnected');
          this.notify();
          break;
        case 'error':
          this.opts.logger.warn({ err: this.opts.classify(status.error).message }, 'nats server error');
          break;
        default:
          break;
      }
    }
  }
}

export function timeoutError(target: string, what: string): DeliveryError {
  return new DeliveryError(`${target}: timed out or aborted while ${what}`, { retryable: true, reason: 'timeout' });
}
