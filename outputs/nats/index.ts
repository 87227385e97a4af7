import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection, NodeConnectionOptions } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Alert } from '../../src/alert/alert.js';
import { defineOutput } from '../kit/define.js';
import { DeliveryError } from '../kit/errors.js';
import { pem, readKeyFile } from '../kit/files.js';
import { brokerOptions, keyTemplate } from '../kit/options.js';
import { redactUrl } from '../kit/redact.js';
import type { OutputInstanceConfig, SendResult } from '../kit/types.js';
import { NatsLink, timeoutError } from './connection.js';
import { natsError } from './errors.js';
import { natsJetstream, natsTransport } from './library.js';
import { buildNatsMessage, DEFAULT_SUBJECT, SUBJECT_SYNTAX, type NatsMessage } from './payload.js';

const NATS_SCHEMES = /^(nats|tls)$/;

const options = {
  /** nats://host:4222, or tls://host:4222 to require TLS. Credentials in the URL are taken out of it. */
  ...brokerOptions(NATS_SCHEMES),
  /** More servers of the same cluster (the client also learns them from the server). */
  servers: z.array(z.url({ protocol: NATS_SCHEMES })).min(1).optional(),
  /** Token authentication (`authorization { token }` on the server). */
  token: z.string().min(1).optional(),
  /** An NKey seed (`SU…`), or the path of a file holding one. */
  nkey: z.string().min(1).optional(),
  /** The path of a `.creds` file (user JWT and NKey seed, as `nsc` writes it). */
  credentials: z.string().min(1).optional(),
  /** Subject template; `{name}` values become slugs, so they never add a token or a wildcard. */
  subject: keyTemplate(SUBJECT_SYNTAX).default(DEFAULT_SUBJECT),
  /** `jetstream`: publish acked by the stream, deduplicated by Nats-Msg-Id. `core`: at most once. */
  mode: z.enum(['jetstream', 'core']).default('jetstream'),
  /** JetStream only: the stream that must store the messages (Nats-Expected-Stream); never created. */
  stream: z.string().regex(/^[^.*>\s/\\]+$/, 'a stream name: no dots, wildcards, slashes or whitespace').optional(),
};

type NatsConfig = OutputInstanceConfig<typeof options>;

/** An NKey seed: `S`, the key type, then base32 (58 characters for a user seed). */
const NKEY_SEED = /^S[A-Z][A-Z2-7]{40,}$/;

const AUTH_KEYS = ['username', 'token', 'nkey', 'credentials'] as const;

function check(config: NatsConfig): Array<{ key: string; message: string }> {
  const problems: Array<{ key: string; message: string }> = [];
  const auth = AUTH_KEYS.filter((k) => config[k] !== undefined);
  if (auth.length > 1) problems.push({ key: auth[1]!, message: `set one of ${AUTH_KEYS.join(', ')}, not ${auth.join(' and ')}` });
  if (config.password !== undefined && config.username === undefined) problems.push({ key: 'password', message: 'needs username' });
  if (config.stream !== undefined && config.mode === 'core') problems.push({ key: 'stream', message: 'only for mode: jetstream' });
  return problems;
}

/** Host and port for the client (it ignores the scheme), TLS if any URL says tls://. */
function connectionOptions(config: NatsConfig, name: string): NodeConnectionOptions {
  const urls = [config.url, ...(config.servers ?? [])].map((u) => new URL(u));
  const fromUrl = urls.find((u) => u.username !== '');
  const opts: NodeConnectionOptions = {
    name: `falconet-${name}`,
    servers: urls.map((u) => `${u.hostname}:${u.port || '4222'}`),
    timeout: config.connectTimeout,
    pingInterval: 15_000,
    maxPingOut: 2,
    noAsyncTraces: true,
  };
  if (config.username !== undefined) Object.assign(opts, { user: config.username, pass: config.password ?? '' });
  else if (fromUrl && !config.token && !config.nkey && !config.credentials) {
    // nats://user:pass@host, or nats://token@host as the NATS tools read it.
    if (fromUrl.password) Object.assign(opts, { user: decodeURIComponent(fromUrl.username), pass: decodeURIComponent(fromUrl.password) });
    else opts.token = decodeURIComponent(fromUrl.username);
  }
  if (config.token) opts.token = config.token;
  if (config.nkey) {
    const seed = NKEY_SEED.test(config.nkey) ? config.nkey : readKeyFile(config.nkey, 'nkey').trim();
    opts.authenticator = natsTransport().nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (config.credentials) opts.authenticator = natsTransport().credsAuthenticator(new TextEncoder().encode(readKeyFile(config.credentials, 'credentials')));
  if (config.tls || urls.some((u) => u.protocol === 'tls:')) {
    opts.tls = {
      ca: pem(config.tls?.ca, 'tls.ca'),
      cert: pem(config.tls?.cert, 'tls.cert'),
      key: pem(config.tls?.key, 'tls.key'),
      rejectUnauthorized: !(config.tls?.insecureSkipVerify ?? false),
    };
  }
  return opts;
}

function toHeaders(message: NatsMessage): MsgHdrs {
  const h = natsTransport().headers();
  for (const [k, v] of message.headers) h.set(k, v);
  return h;
}

/** Rejects (retryably, reason timeout) when the signal fires. */
function aborted(signal: AbortSignal, target: string): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => undefined as void;
  const promise = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(timeoutError(target, 'waiting for the server'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/** The send's result from per-alert outcomes: throws when all failed alike retryably (one reason for the worker). */
function outcome(alerts: Alert[], errors: Array<DeliveryError | undefined>): SendResult | void {
  const failed = errors.filter((e): e is DeliveryError => e !== undefined);
  if (failed.length === 0) return;
  if (failed.length === alerts.length && (alerts.length === 1 || failed.every((e) => e.retryable))) throw failed[0];
  const result: Required<SendResult> = { retry: [], rejected: [] };
  errors.forEach((e, i) => {
    if (!e) return;
    if (e.retryable) result.retry.push(alerts[i]!);
    else result.rejected.push({ alert: alerts[i]!, reason: e.message });
  });
  return result;
}

export const natsOutput = defineOutput({
  type: 'nats',
  summary: 'NATS JetStream: publish acked by the stream, Nats-Msg-Id = alert id for server-side dedup; core NATS as an option',
  transport: 'socket',
  options,
  batching: 'optional',
  defaultOverflow: 'queue',
  secretKeys: ['password', 'token', 'nkey'],
  example: ({ host, port }) => ({
    type: 'nats',
    url: `nats://${host}:${port}`,
    username: 'falconet',
    password: 's3cr3t-nats-password',
    connectTimeout: '2s',
  }),
  check,
  create(config, { name, logger }) {
    const target = redactUrl(config.url);
    const link = new NatsLink({ connection: connectionOptions(config, name), target, logger, classify: (err) => natsError(err, target) });
    const clients = new WeakMap<NatsConnection, JetStreamClient>();
    const expect = config.stream ? { streamName: config.stream } : undefined;

    async function guarded<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
      const drop = link.whileUp();
      const abort = aborted(signal, target);
      try {
        return await Promise.race([work, drop.dropped, abort.promise]);
      } finally {
        drop.dispose();
        abort.dispose();
      }
    }

    async function sendJetStream(nc: NatsConnection, alerts: Alert[], messages: NatsMessage[], signal: AbortSignal): Promise<SendResult | void> {
      let js = clients.get(nc);
      if (!js) clients.set(nc, (js = natsJetstream().jetstream(nc, { timeout: config.timeout })));
      const client = js;
      const errors = await Promise.all(
        messages.map(async (m) => {
          try {
            const publishing = client.publish(m.subject, m.body, { headers: toHeaders(m), timeout: config.timeout, expect });
            publishing.catch(() => undefined);
            const ack: PubAck = await guarded(publishing, signal);
            if (ack.duplicate) logger.debug({ subject: m.subject, stream: ack.stream, seq: ack.seq }, 'nats: duplicate dropped by JetStream');
            return undefined;
          } catch (err) {
            return err instanceof DeliveryError ? err : natsError(err, target, m.subject);
          }
        }),
      );
      return outcome(alerts, errors);
    }

    async function sendCore(nc: NatsConnection, alerts: Alert[], messages: NatsMessage[], signal: AbortSignal): Promise<SendResult | void> {
      const errors = messages.map((m) => {
        try {
          nc.publish(m.subject, m.body, { headers: toHeaders(m) });
          return undefined;
        } catch (err) {
          return natsError(err, target, m.subject);
        }
      });
      if (errors.some((e) => e === undefined)) {
        try {
          // The server's PONG to a flush: it has read everything published before it.
          const flushing = nc.flush();
          flushing.catch(() => undefined);
          await guarded(flushing, signal);
        } catch (err) {
          throw err instanceof DeliveryError ? err : natsError(err, target);
        }
      }
      return outcome(alerts, errors);
    }

    return {
      async send(alerts, { signal }) {
        const nc = await link.ready(signal);
        const messages = alerts.map((a) => buildNatsMessage(a, config.subject));
        return config.mode === 'core' ? sendCore(nc, alerts, messages, signal) : sendJetStream(nc, alerts, messages, signal);
      },
      close: () => link.close(),
    };
  },
});
