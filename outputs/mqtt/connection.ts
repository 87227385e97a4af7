import { createRequire } from 'node:module';
import type * as Mqtt from 'mqtt';
import type { IClientOptions, IConnackPacket, IDisconnectPacket, MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { DeliveryError } from '../kit/errors.js';
import { connackError, publishError, reasonCodeOf, type MqttMessage } from './payload.js';

/**
 * The client library, loaded with the first connection: the collector validates mqtt configs but
 * never connects, and mqtt.js is about 20 MB of a process's memory.
 */
let mqttLibrary: typeof Mqtt | undefined;
const mqtt = (): typeof Mqtt => (mqttLibrary ??= createRequire(import.meta.url)('mqtt') as typeof Mqtt);

/** Reconnect backoff: 0.5 s doubling to 30 s, each pause jittered between half and all of it. */
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/**
 * MQTT 5 session expiry. A persistent session must outlive a broker restart or a network cut
 * (without it an MQTT 5 broker drops the session at the disconnect); an hour bounds what an
 * abandoned client id leaves on the broker.
 */
export const SESSION_EXPIRY_SECONDS = 3600;
/** Publishes in flight per connection under 3.1.1, which has no Receive Maximum to read. */
const V4_MAX_INFLIGHT = 100;
/**
 * A connection must last this long before a loss resets the backoff: a broker that accepts and
 * then drops the client at once (another client with the same client id taking the session over,
 * again and again) is retried at the growing pace, not every 0.5 s.
 */
const STABLE_MS = 10_000;
/** How long close() lets a graceful DISCONNECT take before it drops the socket. */
const CLOSE_GRACE_MS = 2000;

export interface MqttConnectionOptions {
  url: URL;
  clientId: string;
  username?: string;
  password?: string;
  protocolVersion: 4 | 5;
  qos: 1 | 2;
  keepaliveSeconds: number;
  connectTimeout: number;
  tls?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
}

interface Pending {
  /** The caller has its answer. */
  settled: boolean;
  /** The packet id and the in-flight slot are free again. */
  released: boolean;
  cb: (err?: Error) => void;
  settle(err?: DeliveryError): void;
  release(): void;
}

type Waiter = { resolve(): void; reject(err: DeliveryError): void };

/**
 * One MQTT connection of one output instance: a persistent session (`clean: false`, a stable
 * client id), reconnected with backoff by mqtt.js, with the pause set here before each attempt.
 *
 * Nothing waits in mqtt.js's offline queue: a publish is handed to the client only while the
 * connection is up, and one in flight when the connection drops is failed retryably and (QoS 1)
 * removed from the client's store, so the delivery queue, not an in-memory buffer, holds every
 * alert that is not confirmed. QoS 2 messages stay in the store after a drop: mqtt.js finishes
 * their PUBREC/PUBREL exchange when the session resumes, and dropping one half-way could make the
 * broker take a later message with the same packet id for a duplicate.
 */
export class MqttConnection {
  private readonly client: MqttClient;
  private state: 'connecting' | 'up' | 'down' | 'closed' = 'connecting';
  private lastError?: DeliveryError;
  private loggedError?: string;
  private delay = BACKOFF_MIN_MS;
  private everConnected = false;
  private connectedAt = 0;
  /** Sends waiting for the outcome of the connection attempt under way. */
  private readonly waiters = new Set<Waiter>();
  private readonly inflight = new Set<Pending>();
  /** In-flight publishes allowed: the broker's Receive Maximum (MQTT 5), else V4_MAX_INFLIGHT. */
  private slots = V4_MAX_INFLIGHT;
  private used = 0;
  /** The broker's Maximum Packet Size (MQTT 5 CONNACK); a larger PUBLISH would cost the connection. */
  private maxPacket = Infinity;
  private readonly slotWaiters: Waiter[] = [];

  constructor(
    private readonly opts: MqttConnectionOptions,
    /** The broker as errors and logs show it: scheme, host, port; never credentials. */
    readonly target: string,
    private readonly logger: Logger,
  ) {
    const { url, tls } = opts;
    const secure = url.protocol === 'mqtts:';
    const options: IClientOptions = {
      protocol: secure ? 'mqtts' : 'mqtt',
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port ? Number(url.port) : secure ? 8883 : 1883,
      clientId: opts.clientId,
      username: opts.username,
      password: opts.password,
      protocolVersion: opts.protocolVersion,
      clean: false,
      keepalive: opts.keepaliveSeconds,
      connectTimeout: opts.connectTimeout,
      reconnectPeriod: this.jittered(),
      // A refused CONNACK (bad password) keeps retrying, so fixed credentials recover without a restart.
      reconnectOnConnackError: true,
      queueQoSZero: false,
      resubscribe: false,
      // Tracks the ids in use, so an id still held by a QoS 2 exchange is never handed out twice.
      messageIdProvider: new (mqtt().UniqueMessageIdProvider)(),
      properties: opts.protocolVersion === 5 ? { sessionExpiryInterval: SESSION_EXPIRY_SECONDS } : undefined,
      ...(tls && { ca: tls.ca, cert: tls.cert, key: tls.key, rejectUnauthorized: tls.rejectUnauthorized }),
    };
    this.client = mqtt().connect(options);
    this.client.on('connect', (connack) => this.onConnect(connack));
    this.client.on('reconnect', () => this.onReconnect());
    this.client.on('error', (err) => this.onError(err));
    this.client.on('disconnect', (packet) => this.onServerDisconnect(packet));
    // Before mqtt.js's own listener, which schedules the next attempt with the period set here.
    this.client.prependListener('close', () => this.onClose());
  }

  /** Publishes one message and resolves on its PUBACK (QoS 1) or PUBCOMP (QoS 2). */
  async publish(message: MqttMessage, signal: AbortSignal): Promise<void> {
    await this.ready(signal);
    const size = publishPacketSize(message);
    if (size > this.maxPacket) {
      // The broker would drop the connection (reason 149) and the retry would fail alike.
      throw new DeliveryError(`${this.target}: the alert makes a ${size}-byte PUBLISH, over the broker's Maximum Packet Size of ${this.maxPacket}`, {
        retryable: false,
        reason: 'invalid_payload',
      });
    }
    await this.acquireSlot(signal);
    if (this.state !== 'up') {
      this.releaseSlot();
      throw this.unavailable();
    }
    return new Promise<void>((resolve, reject) => {
      // An abort answers the caller (the queue retries) but keeps the message in mqtt.js's store:
      // its packet id stays taken until the broker's PUBACK for it, which would otherwise be read
      // as the acknowledgement of the next alert given the same id, and its slot stays counted
      // against the broker's Receive Maximum. A connection loss releases both (onClose).
      const onAbort = () => pending.settle(this.aborted());
      const pending: Pending = {
        settled: false,
        released: false,
        cb: (err?: Error) => {
          pending.release();
          pending.settle(err ? this.publishFailure(err) : undefined);
        },
        settle: (err?: DeliveryError) => {
          if (pending.settled) return;
          pending.settled = true;
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve();
        },
        release: () => {
          if (pending.released) return;
          pending.released = true;
          this.inflight.delete(pending);
          this.releaseSlot();
        },
      };
      if (signal.aborted) {
        pending.release();
        return pending.settle(this.aborted());
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.inflight.add(pending);
      // Never retained: a retained alert would be replayed to every new subscriber as if it were new.
      this.client.publish(message.topic, message.payload, { qos: this.opts.qos, retain: false, properties: message.properties }, pending.cb);
    });
  }

  /** Ends the session's connection (DISCONNECT when up) and the reconnect loop. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const closed = new DeliveryError(`${this.target}: output closed`, { retryable: true, reason: 'network' });
    this.failWaiters(closed);
    for (const pending of [...this.inflight]) this.abandon(pending, closed);
    for (const w of this.slotWaiters.splice(0)) w.reject(closed);
    const client = this.client;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, CLOSE_GRACE_MS);
      timer.unref();
      // Graceful only when nothing is outstanding: mqtt.js would otherwise wait for every ack.
      const force = !client.connected || Object.keys(client.outgoing).length > 0;
      client.end(force, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async ready(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw this.aborted();
    if (this.state === 'up') return;
    if (this.state !== 'connecting') throw this.unavailable();
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.waiters.delete(waiter);
        reject(this.aborted());
      };
      const waiter: Waiter = {
        resolve: () => (signal.removeEventListener('abort', onAbort), resolve()),
        reject: (err) => (signal.removeEventListener('abort', onAbort), reject(err)),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  private async acquireSlot(signal: AbortSignal): Promise<void> {
    if (this.used < this.slots) {
      this.used++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.slotWaiters.indexOf(waiter);
        if (i >= 0) this.slotWaiters.splice(i, 1);
        reject(this.aborted());
      };
      // releaseSlot hands its slot over: `used` stays counted for the waiter.
      const waiter: Waiter = {
        resolve: () => (signal.removeEventListener('abort', onAbort), resolve()),
        reject: (err) => (signal.removeEventListener('abort', onAbort), reject(err)),
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.slotWaiters.push(waiter);
    });
  }

  private releaseSlot(): void {
    const next = this.used <= this.slots ? this.slotWaiters.shift() : undefined;
    if (next) next.resolve();
    else this.used--;
  }

  /**
   * Gives up on one publish when the connection is gone (or the output closes). A QoS 1 message
   * leaves mqtt.js's store, so it is not sent again on reconnect behind the queue's back (the
   * queue's retry sends it); QoS 2 stays (see the class).
   */
  private abandon(pending: Pending, err: DeliveryError): void {
    pending.settle(err);
    pending.release();
    if (this.opts.qos !== 1) return;
    for (const [id, entry] of Object.entries(this.client.outgoing)) {
      if (entry.cb === pending.cb) this.client.removeOutgoingMessage(Number(id));
    }
  }

  private publishFailure(err: Error): DeliveryError {
    const code = reasonCodeOf(err);
    if (code !== undefined && err.message.startsWith('Publish error')) return publishError(code, this.target);
    return new DeliveryError(`${this.target}: publish not acknowledged (${err.message})`, { retryable: true, reason: 'network' });
  }

  private onConnect(connack: IConnackPacket): void {
    if (this.state === 'closed') return;
    this.state = 'up';
    this.connectedAt = Date.now();
    this.lastError = undefined;
    this.loggedError = undefined;
    const receiveMaximum = connack.properties?.receiveMaximum;
    this.slots = this.opts.protocolVersion === 5 ? (receiveMaximum ?? 65_535) : V4_MAX_INFLIGHT;
    this.maxPacket = connack.properties?.maximumPacketSize ?? Infinity;
    this.logger.info(
      { broker: this.target, clientId: this.opts.clientId, sessionPresent: connack.sessionPresent, receiveMaximum },
      this.everConnected ? 'mqtt reconnected' : 'mqtt connected',
    );
    this.everConnected = true;
    for (const w of [...this.waiters]) w.resolve();
    this.waiters.clear();
    while (this.used < this.slots && this.slotWaiters.length > 0) {
      this.used++;
      this.slotWaiters.shift()!.resolve();
    }
  }

  /** mqtt.js starts an attempt: the pause before the next one, should this one fail, doubles. */
  private onReconnect(): void {
    if (this.state === 'closed') return;
    this.state = 'connecting';
    this.delay = Math.min(this.delay * 2, BACKOFF_MAX_MS);
    this.client.options.reconnectPeriod = this.jittered();
  }

  private onError(err: Error): void {
    const code = reasonCodeOf(err);
    if (code !== undefined && err.message.startsWith('Connection refused')) this.lastError = connackError(code, this.target);
    else if (err.message === 'connack timeout') {
      this.lastError = new DeliveryError(`${this.target}: no CONNACK within connectTimeout`, { retryable: true, reason: 'timeout' });
    } else {
      const detail = (err as NodeJS.ErrnoException).code ?? err.message;
      this.lastError = new DeliveryError(`${this.target}: ${typeof detail === 'string' ? detail : err.message}`, { retryable: true, reason: 'network' });
    }
    // One line per change of error, not one per reconnect attempt.
    if (this.lastError.message !== this.loggedError) {
      this.loggedError = this.lastError.message;
      this.logger.warn({ broker: this.target, reason: this.lastError.reason, err: this.lastError.message }, 'mqtt connection failed; reconnecting with backoff');
    }
  }

  private onServerDisconnect(packet: IDisconnectPacket): void {
    const code = packet.reasonCode ?? 0;
    if (code === 142) {
      this.lastError = new DeliveryError(`${this.target}: session taken over by another client with clientId ${this.opts.clientId}`, { retryable: true, reason: 'network' });
      this.logger.error({ broker: this.target, clientId: this.opts.clientId }, 'mqtt session taken over: another client connected with the same clientId (give each Falconet process its own clientId)');
    } else {
      this.lastError = new DeliveryError(`${this.target}: broker disconnected (reason code ${code})`, { retryable: true, reason: 'server_error' });
      this.logger.warn({ broker: this.target, reasonCode: code }, 'mqtt broker sent DISCONNECT');
    }
  }

  private onClose(): void {
    if (this.state === 'closed') return;
    const wasUp = this.state === 'up';
    this.state = 'down';
    if (wasUp && !this.lastError) this.lastError = new DeliveryError(`${this.target}: connection closed`, { retryable: true, reason: 'network' });
    const err = this.unavailable();
    this.failWaiters(err);
    for (const pending of [...this.inflight]) this.abandon(pending, err);
    if (!wasUp) return;
    const lasted = Date.now() - this.connectedAt;
    if (lasted >= STABLE_MS) {
      this.delay = BACKOFF_MIN_MS;
      this.client.options.reconnectPeriod = this.jittered();
      this.logger.warn({ broker: this.target, err: err.message }, 'mqtt connection lost; reconnecting with backoff');
    } else {
      this.logger.warn(
        { broker: this.target, err: err.message, clientId: this.opts.clientId, lastedMs: lasted },
        'mqtt connection lost soon after the broker accepted it (another client with the same clientId?); reconnecting with backoff',
      );
    }
  }

  private failWaiters(err: DeliveryError): void {
    for (const w of [...this.waiters]) w.reject(err);
    this.waiters.clear();
  }

  /** Why a send cannot go out now: the last connection error, else "not connected". */
  private unavailable(): DeliveryError {
    if (this.state === 'closed') return new DeliveryError(`${this.target}: output closed`, { retryable: true, reason: 'network' });
    return this.lastError ?? new DeliveryError(`${this.target}: not connected (reconnecting)`, { retryable: true, reason: 'network' });
  }

  private aborted(): DeliveryError {
    return new DeliveryError(`${this.target}: publish timed out or was aborted before the broker acknowledged it`, { retryable: true, reason: 'timeout' });
  }

  private jittered(): number {
    return Math.round(this.delay / 2 + (Math.random() * this.delay) / 2);
  }
}

/** Bytes of the PUBLISH packet for `message` at QoS 1/2 (MQTT 5 encoding; 3.1.1 has no properties). */
export function publishPacketSize(message: MqttMessage): number {
  const str = (s: string) => 2 + Buffer.byteLength(s);
  let props = 0;
  if (message.properties) {
    props += 1 + str(message.properties.contentType) + 2;
    for (const [k, v] of Object.entries(message.properties.userProperties)) props += 1 + str(k) + str(v);
  }
  const variable = str(message.topic) + 2 + (message.properties ? varintLength(props) + props : 0);
  const remaining = variable + Buffer.byteLength(message.payload);
  return 1 + varintLength(remaining) + remaining;
}

function varintLength(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}
