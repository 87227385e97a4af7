import { createRequire } from 'node:module';
import type * as Amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options, RecoveringChannelModel } from 'amqplib';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import type { Logger } from 'pino';
import { DeliveryError } from '../kit/errors.js';
import { pem } from '../kit/files.js';
import type { TlsOptions } from '../kit/options.js';
import type { AmqpMessage } from './payload.js';

/**
 * The client library, loaded with the first connection: the collector validates rabbitmq configs
 * but never connects, and amqplib is about 8 MB of a process's memory (as mqtt.js is, outputs/mqtt).
 */
let amqpLibrary: typeof Amqp | undefined;
const amqp = (): typeof Amqp => (amqpLibrary ??= createRequire(import.meta.url)('amqplib') as typeof Amqp);

/** Where and how to connect, split from the configured URL so that credentials never travel in a URL string. */
export interface AmqpTarget {
  connect: Options.Connect;
  socket: TlsConnectionOptions & { timeout: number };
  /** For logs and errors: scheme, host, port and vhost, never credentials. */
  where: string;
}

export interface TargetConfig {
  url: string;
  username?: string;
  password?: string;
  tls?: TlsOptions;
  connectTimeout: number;
  /** Heartbeat interval in ms; 0 turns heartbeats off; unset: the broker's suggestion. */
  heartbeat?: number;
}

/**
 * The URL's vhost is its path without the leading `/`, percent-decoded (`amqp://h/%2F` is `/`,
 * `amqp://h` and `amqp://h/` the default vhost `/`, as amqplib reads it). The `username` and
 * `password` keys take precedence over userinfo in the URL; neither given means guest/guest.
 */
export function amqpTarget(config: TargetConfig): AmqpTarget {
  const url = new URL(config.url);
  const protocol = url.protocol === 'amqps:' ? 'amqps' : 'amqp';
  // amqplib percent-decodes the vhost itself.
  const rawVhost = url.pathname.slice(1);
  const username = config.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
  const password = config.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
  const connectOptions: Options.Connect = {
    protocol,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : protocol === 'amqps' ? 5671 : 5672,
    vhost: rawVhost,
  };
  if (username !== undefined || password !== undefined) {
    connectOptions.username = username ?? '';
    connectOptions.password = password ?? '';
  }
  // AMQP negotiates heartbeats in whole seconds.
  if (config.heartbeat !== undefined) connectOptions.heartbeat = config.heartbeat === 0 ? 0 : Math.max(1, Math.round(config.heartbeat / 1000));
  const socket: AmqpTarget['socket'] = { timeout: config.connectTimeout };
  if (protocol === 'amqps' && config.tls) {
    socket.ca = pem(config.tls.ca, 'tls.ca');
    socket.cert = pem(config.tls.cert, 'tls.cert');
    socket.key = pem(config.tls.key, 'tls.key');
    socket.rejectUnauthorized = !config.tls.insecureSkipVerify;
  }
  const vhost = rawVhost === '' ? '/' : decodeURIComponent(rawVhost);
  return { connect: connectOptions, socket, where: `${protocol}://${url.host} vhost ${vhost}` };
}

/** How one publish ended, from the broker's confirm and a basic.return before it. */
export type PublishOutcome =
  | { kind: 'confirmed' }
  /** basic.nack: a queue refused it (full with x-overflow reject-publish) or the broker failed. */
  | { kind: 'nacked' }
  /** basic.return of a mandatory message: no queue is bound for its routing key. */
  | { kind: 'unroutable' }
  /** The channel or connection closed before the confirm: the broker may or may not have it. */
  | { kind: 'lost'; message: string };

interface LiveChannel {
  channel: ConfirmChannel;
  /** messageIds returned as unroutable whose confirm has not arrived yet (a return precedes its ack). */
  returned: Map<string, number>;
}

export interface LinkOptions {
  target: AmqpTarget;
  exchange: string;
  /** Declare the exchange (durable topic) at every connect; otherwise check that it exists. */
  declareExchange: boolean;
  logger: Logger;
  /** Reconnect delays: first, then doubling (with jitter) up to the max. */
  backoff?: { initialDelay: number; maxDelay: number };
}

/**
 * One AMQP connection and one confirm channel, kept open for the output instance's life. amqplib's
 * recovery reconnects with exponential backoff and jitter; every (re)connect opens the confirm
 * channel and declares the exchange before it counts as connected. While disconnected, sends fail
 * at once with a retryable error (the alerts wait in Falconet's queue), except before the first
 * attempt has ended, when they wait for it within their signal.
 */
export class AmqpLink {
  private readonly model: Promise<RecoveringChannelModel>;
  private live?: LiveChannel;
  private lastError?: Error;
  private lastLogged?: string;
  private closed = false;
  /** The broker's resource alarm (connection.blocked): publishing now would only pile up in memory. */
  private blocked?: string;
  private readonly wakers = new Set<() => void>();

  constructor(private readonly opts: LinkOptions) {
    const backoff = opts.backoff ?? { initialDelay: 200, maxDelay: 5_000 };
    this.model = amqp().connect(opts.target.connect, {
      ...opts.target.socket,
      recovery: { waitForConnect: false, ...backoff, setup: (model: ChannelModel) => this.setup(model) },
    });
    this.model.then(
      (model) => this.watch(model),
      (err: Error) => this.changed(err),
    );
  }

  get where(): string {
    return this.opts.target.where;
  }

  /** Publishes every message on the current channel and waits for each confirm, or the signal. */
  async publish(messages: AmqpMessage[], signal: AbortSignal): Promise<PublishOutcome[]> {
    const live = await this.ready(signal);
    const confirms = messages.map((m) => this.publishOne(live, m));
    return await untilAborted(Promise.all(confirms), signal, () => this.timeout('no publisher confirm before the timeout; the broker may still have the messages'));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wake();
    this.live = undefined;
    await this.model.then((m) => m.close()).catch(() => undefined);
  }

  private publishOne(live: LiveChannel, message: AmqpMessage): Promise<PublishOutcome> {
    return new Promise((resolve) => {
      const id = message.properties.messageId;
      try {
        live.channel.publish(this.opts.exchange, message.routingKey, message.content, message.properties, (err: Error | null) => {
          if (err) return resolve(err.message === 'message nacked' ? { kind: 'nacked' } : { kind: 'lost', message: err.message });
          const returned = live.returned.get(id) ?? 0;
          if (returned === 0) return resolve({ kind: 'confirmed' });
          if (returned === 1) live.returned.delete(id);
          else live.returned.set(id, returned - 1);
          resolve({ kind: 'unroutable' });
        });
      } catch (err) {
        // amqplib throws when the channel has just closed; nothing was sent.
        resolve({ kind: 'lost', message: (err as Error).message });
      }
    });
  }

  /** The open channel, or a retryable error saying why there is none. */
  private async ready(signal: AbortSignal): Promise<LiveChannel> {
    for (;;) {
      if (signal.aborted) throw this.timeout(`not connected before the timeout`);
      if (this.closed) throw new DeliveryError(`rabbitmq ${this.where}: the output is closed`, { retryable: true, reason: 'network' });
      if (this.live && this.blocked !== undefined) {
        // Every retry would buffer another copy in the socket until the alarm clears, then all go out.
        throw new DeliveryError(`rabbitmq ${this.where}: the broker blocks publishing (resource alarm: ${this.blocked}); retried once it clears`, { retryable: true, reason: 'server_error' });
      }
      if (this.live) return this.live;
      if (this.lastError) throw this.notConnected(this.lastError);
      await new Promise<void>((resolve) => {
        const done = () => {
          this.wakers.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.wakers.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** Run by amqplib on every new connection before it counts as connected; a throw means reconnect later. */
  private async setup(model: ChannelModel): Promise<void> {
    const channel = await model.createConfirmChannel();
    channel.on('error', (err: Error) => this.opts.logger.warn({ where: this.where, err: err.message }, 'rabbitmq channel error'));
    const live: LiveChannel = { channel, returned: new Map() };
    channel.on('return', (msg: { properties: { messageId?: string } }) => {
      const id = String(msg.properties.messageId ?? '');
      live.returned.set(id, (live.returned.get(id) ?? 0) + 1);
    });
    if (this.opts.declareExchange) await channel.assertExchange(this.opts.exchange, 'topic', { durable: true });
    else await channel.checkExchange(this.opts.exchange);
    channel.on('close', () => {
      if (this.live !== live) return;
      // A channel error (say the exchange was deleted) leaves the connection up: close it too, so
      // recovery reconnects with backoff and declares again.
      this.changed(new Error('channel closed'));
      model.close().catch(() => undefined);
    });
    if (this.closed) return;
    this.live = live;
    this.lastError = undefined;
    this.lastLogged = undefined;
    this.opts.logger.info({ where: this.where, exchange: this.opts.exchange }, 'rabbitmq connected');
    this.wake();
  }

  private watch(model: RecoveringChannelModel): void {
    const log = this.opts.logger;
    model.on('disconnect', (err: Error) => this.changed(err));
    model.on('connect-failed', (err: Error) => this.changed(err));
    model.on('reconnect-failed', (err: Error) => this.changed(err));
    model.on('reconnect-scheduled', ({ attempt, delay }: { attempt: number; delay: number }) => log.debug({ where: this.where, attempt, delay }, 'rabbitmq reconnect scheduled'));
    model.on('error', (err: Error) => log.debug({ where: this.where, err: err.message }, 'rabbitmq connection error'));
    model.on('blocked', (reason: string) => {
      this.blocked = reason || 'unspecified';
      log.warn({ where: this.where, reason }, 'rabbitmq broker blocks publishing (resource alarm); sends fail retryably until it clears');
    });
    model.on('unblocked', () => {
      this.blocked = undefined;
      log.info({ where: this.where }, 'rabbitmq broker unblocked publishing');
    });
  }

  private changed(err: Error): void {
    this.live = undefined;
    // A new connection starts unblocked; the broker says so again if the alarm still holds.
    this.blocked = undefined;
    this.lastError = err;
    if (!this.closed && err.message !== this.lastLogged) {
      // Once per distinct reason, not once per reconnect attempt.
      this.lastLogged = err.message;
      this.opts.logger.warn({ where: this.where, err: err.message }, 'rabbitmq not connected; reconnecting with backoff');
    }
    this.wake();
  }

  private wake(): void {
    for (const waker of [...this.wakers]) waker();
  }

  private notConnected(err: Error): DeliveryError {
    const auth = /ACCESS.REFUSED|403/.test(err.message);
    return new DeliveryError(`rabbitmq ${this.where}: not connected (${err.message})`, { retryable: true, reason: auth ? 'auth_error' : 'network' });
  }

  private timeout(what: string): DeliveryError {
    return new DeliveryError(`rabbitmq ${this.where}: ${what}`, { retryable: true, reason: 'timeout' });
  }
}

function untilAborted<T>(work: Promise<T>, signal: AbortSignal, onAbort: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onAbort());
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(onAbort());
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}
