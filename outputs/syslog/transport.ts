import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { networkError } from '../kit/classify.js';
import { DeliveryError } from '../kit/errors.js';
import { pem } from '../kit/files.js';
import type { TlsOptions } from '../kit/options.js';

/**
 * How syslog records leave: one persistent TCP or TLS connection (octet-counted frames, RFC 6587 /
 * RFC 5425), or a connected UDP socket (one record per datagram, RFC 5426).
 */
export interface SyslogTransport {
  /** Resolves once every byte was handed to the kernel (the socket's write callback). */
  send(payloads: Buffer[], signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface Endpoint {
  protocol: 'udp' | 'tcp' | 'tls';
  host: string;
  port: number;
  /** `tls://host:port`: what errors and logs name (the URL carries no credentials). */
  target: string;
}

/** Reconnect backoff: 100 ms doubling to 5 s, full jitter. Short: the queue's own backoff is longer. */
const BACKOFF_FIRST = 100;
const BACKOFF_MAX = 5_000;
/** A connection that survived this long was healthy: its loss resets the backoff. */
const HEALTHY_AFTER = 5_000;

function backoff(failures: number): number {
  const cap = Math.min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** Math.max(0, failures - 1));
  return Math.round(cap / 2 + (Math.random() * cap) / 2);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal, target: string): Promise<T> {
  if (signal.aborted) return Promise.reject(networkError(signal.reason, target, signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(networkError(signal.reason, target, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => (signal.removeEventListener('abort', onAbort), resolve(v)),
      (e: unknown) => (signal.removeEventListener('abort', onAbort), reject(e)),
    );
  });
}

/**
 * One TCP or TLS connection, kept open. A lost connection is re-established at once and then with
 * backoff until `close()`; a send while no connection is up fails at once (retryable) unless an
 * attempt is under way, which it waits for. Syslog receivers never answer, so a written record
 * counts as delivered: the only confirmation the protocol has is the kernel taking the bytes.
 */
export class StreamTransport implements SyslogTransport {
  private socket?: Socket;
  private attempt?: Promise<Socket>;
  private pending?: Socket;
  private timer?: NodeJS.Timeout;
  private failures = 0;
  private lastError?: DeliveryError;
  private closed = false;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly opts: { tls?: TlsOptions; connectTimeout: number; logger: Logger },
  ) {}

  async send(payloads: Buffer[], signal: AbortSignal): Promise<void> {
    const socket = await this.connected(signal);
    await this.write(socket, payloads.length === 1 ? payloads[0]! : Buffer.concat(payloads), signal);
  }

  private async connected(signal: AbortSignal): Promise<Socket> {
    const { target } = this.endpoint;
    if (signal.aborted) throw networkError(signal.reason, target, signal);
    if (this.closed) throw new DeliveryError(`${target}: output is closing`, { retryable: true, reason: 'network' });
    if (this.socket) {
      // One turn of the event loop, so a FIN or RST that already arrived is seen before writing.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.socket && this.usable(this.socket)) return this.socket;
      // Ended but not yet reported as lost: drop it here, a fresh connection follows.
      if (this.socket) {
        this.socket.destroy();
        this.socket = undefined;
      }
    }
    if (this.attempt) return abortable(this.attempt, signal, target);
    if (this.timer && this.lastError) {
      throw new DeliveryError(`${this.lastError.message} (reconnecting)`, { retryable: true, reason: this.lastError.reason });
    }
    return abortable(this.startAttempt(), signal, target);
  }

  private usable(socket: Socket): boolean {
    return !socket.destroyed && socket.writable && !socket.readableEnded;
  }

  private startAttempt(): Promise<Socket> {
    const attempt = this.connect().then(
      (socket) => {
        this.attempt = undefined;
        if (this.closed) {
          socket.destroy();
          throw new DeliveryError(`${this.endpoint.target}: output is closing`, { retryable: true, reason: 'network' });
        }
        if (this.lastError) this.opts.logger.info({ target: this.endpoint.target }, 'syslog connection re-established');
        this.lastError = undefined;
        this.adopt(socket);
        return socket;
      },
      (err: unknown) => {
        this.attempt = undefined;
        const error = err instanceof DeliveryError ? err : networkError(err, this.endpoint.target);
        this.failures++;
        if (this.lastError?.message !== error.message) this.opts.logger.warn({ target: this.endpoint.target, err: error.message }, 'syslog connection failed');
        this.lastError = error;
        this.schedule();
        throw error;
      },
    );
    // A background attempt nobody awaits must not become an unhandled rejection.
    attempt.catch(() => undefined);
    this.attempt = attempt;
    return attempt;
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.closed && !this.socket && !this.attempt) this.startAttempt();
    }, backoff(this.failures));
    this.timer.unref();
  }

  private connect(): Promise<Socket> {
    const { protocol, host, port, target } = this.endpoint;
    return new Promise<Socket>((resolve, reject) => {
      let socket: Socket;
      try {
        const tls = this.opts.tls;
        socket =
          protocol === 'tls'
            ? tlsConnect({
                host,
                port,
                // SNI takes names only (RFC 6066 §3).
                servername: isIP(host) ? undefined : host,
                // Read on every connection: a rotated CA or client certificate is picked up on reconnect.
                ca: pem(tls?.ca, 'tls.ca'),
                cert: pem(tls?.cert, 'tls.cert'),
                key: pem(tls?.key, 'tls.key'),
                rejectUnauthorized: !(tls?.insecureSkipVerify ?? false),
                minVersion: 'TLSv1.2',
              })
            : netConnect({ host, port });
      } catch (err) {
        reject(networkError(err, target));
        return;
      }
      this.pending = socket;
      // Errors after this attempt settled (the socket is destroyed then) must not crash the process.
      socket.on('error', () => undefined);
      const started = Date.now();
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), this.opts.connectTimeout);
      let settling: NodeJS.Timeout | undefined;
      const done = (err?: unknown) => {
        clearTimeout(timer);
        clearTimeout(settling);
        socket.off('session', onSession);
        socket.off('error', done);
        socket.off(protocol === 'tls' ? 'secureConnect' : 'connect', onConnect);
        socket.off('close', onClose);
        if (this.pending === socket) this.pending = undefined;
        if (err) {
          socket.destroy();
          reject(networkError(err, target));
        } else resolve(socket);
      };
      // Not from inside the 'session' event: it fires in the middle of OpenSSL reading the ticket,
      // and a write from there corrupts the stream (the server sees a bad record MAC).
      const onSession = () => void setImmediate(() => done());
      const onConnect = () => {
        if (protocol !== 'tls' || (socket as TLSSocket).getProtocol() !== 'TLSv1.3') return done();
        // TLS 1.3: the server checks a client certificate only after our side of the handshake is
        // done, then answers with a session ticket or an alert. Wait for either (bounded by twice
        // the handshake's time), so a refused certificate fails this attempt instead of
        // swallowing the first write.
        clearTimeout(timer);
        socket.once('session', onSession);
        settling = setTimeout(() => done(), Math.min(this.opts.connectTimeout, Math.max(200, 2 * (Date.now() - started))));
      };
      const onClose = () => done(Object.assign(new Error('connection closed during connect'), { code: 'ECONNRESET' }));
      socket.once('error', done);
      socket.once('close', onClose);
      socket.once(protocol === 'tls' ? 'secureConnect' : 'connect', onConnect);
    });
  }

  /** Takes a fresh connection into use and watches it: a peer's FIN or RST ends it and starts a reconnect. */
  private adopt(socket: Socket): void {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    // Each pending write watches 'close' and `concurrency` may be high: not a leak.
    socket.setMaxListeners(0);
    // Receivers send nothing; reading anyway is how a FIN (listener restart) is noticed.
    socket.resume();
    const since = Date.now();
    const lost = (why: string) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      socket.destroy();
      if (this.closed) return;
      this.opts.logger.warn({ target: this.endpoint.target, why }, 'syslog connection lost; reconnecting');
      // A connection that lived a while earns an immediate reconnect; one the peer drops at once
      // (a refused client certificate, a receiver at its connection limit) backs off like a failed connect.
      if (Date.now() - since >= HEALTHY_AFTER) {
        this.failures = 0;
        this.startAttempt();
      } else {
        this.failures++;
        this.lastError = networkError(Object.assign(new Error(why), { code: why }), this.endpoint.target);
        this.schedule();
      }
    };
    socket.on('end', () => lost('closed by the peer'));
    socket.on('error', (err: NodeJS.ErrnoException) => lost(err.code ?? err.message));
    socket.on('close', () => lost('closed'));
  }

  private write(socket: Socket, data: Buffer, signal: AbortSignal): Promise<void> {
    const { target } = this.endpoint;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: DeliveryError) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      // A write still pending when the send gives up means the peer stopped reading: drop the
      // connection (a half-written frame must never be followed by another on the same stream).
      const onAbort = () => {
        socket.destroy();
        finish(networkError(signal.reason, target, signal));
      };
      const onClose = () => finish(networkError(Object.assign(new Error('closed'), { code: 'ECONNRESET' }), target));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('close', onClose);
      socket.write(data, (err) => finish(err ? networkError(err, target) : undefined));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending?.destroy();
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    // end() flushes what is queued, then FIN; a peer that never reads must not hold close() up.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => (socket.destroy(), resolve()), 2_000);
      socket.end(() => (clearTimeout(timer), socket.destroy(), resolve()));
    });
  }
}

/**
 * A connected UDP socket: each record is one datagram, sent and forgotten (RFC 5426 has no
 * acknowledgement). On a connected socket the kernel reports an ICMP port-unreachable as
 * ECONNREFUSED, after the datagram that caused it: the next send fails with it (retryable).
 */
export class DatagramTransport implements SyslogTransport {
  private socket?: Promise<UdpSocket>;
  private refused?: NodeJS.ErrnoException;
  private closed = false;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly opts: { logger: Logger },
  ) {}

  private open(): Promise<UdpSocket> {
    if (this.socket) return this.socket;
    const { host, port } = this.endpoint;
    const family = isIP(host) === 6 ? 'udp6' : 'udp4';
    const opening = new Promise<UdpSocket>((resolve, reject) => {
      const socket = createSocket(family);
      const onError = (err: Error) => (socket.close(), reject(err));
      socket.once('error', onError);
      // On failure (DNS) Node calls the callback with the error.
      socket.connect(port, host, ((err?: Error) => {
        if (err) return onError(err);
        socket.off('error', onError);
        socket.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code === 'ECONNREFUSED') this.refused = err;
          else {
            this.opts.logger.warn({ target: this.endpoint.target, err: err.message }, 'syslog UDP socket error; reopening');
            if (this.socket === opening) this.socket = undefined;
            socket.close();
          }
        });
        resolve(socket);
      }) as () => void);
    });
    opening.catch(() => {
      if (this.socket === opening) this.socket = undefined;
    });
    this.socket = opening;
    return opening;
  }

  async send(payloads: Buffer[], signal: AbortSignal): Promise<void> {
    const { target } = this.endpoint;
    if (this.closed) throw new DeliveryError(`${target}: output is closing`, { retryable: true, reason: 'network' });
    let socket: UdpSocket;
    try {
      socket = await abortable(this.open(), signal, target);
    } catch (err) {
      throw err instanceof DeliveryError ? err : networkError(err, target);
    }
    for (const payload of payloads) {
      if (signal.aborted) throw networkError(signal.reason, target, signal);
      if (this.refused) {
        const refused = this.refused;
        this.refused = undefined;
        throw networkError(refused, target);
      }
      await new Promise<void>((resolve, reject) => socket.send(payload, (err) => (err ? reject(networkError(err, target)) : resolve())));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const opening = this.socket;
    this.socket = undefined;
    const socket = await opening?.catch(() => undefined);
    await new Promise<void>((resolve) => (socket ? socket.close(() => resolve()) : resolve()));
  }
}
