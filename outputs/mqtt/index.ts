import { setMaxListeners } from 'node:events';
import { hostname } from 'node:os';
import { z } from 'zod';
import type { Alert } from '../../src/alert/alert.js';
import { defineOutput } from '../kit/define.js';
import { duration } from '../kit/duration.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import { pem } from '../kit/files.js';
import { brokerOptions, keyTemplate } from '../kit/options.js';
import { redactUrl } from '../kit/redact.js';
import type { SendResult } from '../kit/types.js';
import { MqttConnection } from './connection.js';
import { DEFAULT_TOPIC, MQTT_TOPIC, buildMqttMessage, checkMqttTopic } from './payload.js';

const options = {
  /** mqtt://host:1883 or mqtts://host:8883 (TLS). */
  ...brokerOptions(/^mqtts?$/),
  /** Topic per alert; `{name}` values are slugified, so they never add a level or a wildcard. */
  topic: keyTemplate(MQTT_TOPIC).default(DEFAULT_TOPIC),
  /** 1: at least once (PUBACK). 2: exactly once between Falconet and the broker (PUBREC/PUBREL/PUBCOMP). 0 is refused: unconfirmed. */
  qos: z.union([z.literal(1), z.literal(2)]).default(1),
  /** MQTT 5 (content type, user properties) or 3.1.1 for older brokers. */
  protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
  /** The persistent session's client id: unique per connected process. Default falconet-<name>-<host>. */
  clientId: z.string().min(1).max(256).optional(),
  /** PINGREQ interval when idle; the broker drops the connection after 1.5 × this without traffic. */
  keepalive: duration.refine((v) => v >= 1000 && v <= 65_535_000, 'between 1s and 65535s').default(30_000),
};

/** `falconet-<instance>-<host>`: stable across restarts on one host, distinct across hosts and pods. */
export function defaultClientId(name: string, host = hostname()): string {
  return `falconet-${name}-${host}`.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 128);
}

export const mqttOutput = defineOutput({
  type: 'mqtt',
  summary: 'MQTT 3.1.1/5 publish, QoS 1 (PUBACK) or 2, persistent session, never retained, topic per alert',
  transport: 'socket',
  options,
  batching: 'optional',
  defaultOverflow: 'queue',
  secretKeys: ['password', 'tls.key'],
  example: ({ host, port }) => ({ type: 'mqtt', url: `mqtt://${host}:${port}`, username: 'falconet', password: 's3cr3t-mqtt-password' }),
  check(config) {
    const problems: Array<{ key: string; message: string }> = [];
    const topic = checkMqttTopic(config.topic);
    if (topic) problems.push({ key: 'topic', message: topic });
    if (config.tls && !config.url.startsWith('mqtts:')) problems.push({ key: 'tls', message: 'tls needs an mqtts:// url' });
    return problems;
  },
  create(config, { name, logger }) {
    const url = new URL(config.url);
    const connection = new MqttConnection(
      {
        url,
        clientId: config.clientId ?? defaultClientId(name),
        // Credentials may come in the URL; the separate keys win.
        username: config.username ?? (url.username ? decodeURIComponent(url.username) : undefined),
        password: config.password ?? (url.password ? decodeURIComponent(url.password) : undefined),
        protocolVersion: config.protocolVersion,
        qos: config.qos,
        keepaliveSeconds: Math.round(config.keepalive / 1000),
        connectTimeout: config.connectTimeout,
        tls: config.tls && {
          ca: pem(config.tls.ca, 'tls.ca'),
          cert: pem(config.tls.cert, 'tls.cert'),
          key: pem(config.tls.key, 'tls.key'),
          rejectUnauthorized: !config.tls.insecureSkipVerify,
        },
      },
      redactUrl(config.url),
      logger,
    );
    return {
      async send(alerts, { signal }) {
        // One listener on the caller's signal per send, however many publishes a batch makes.
        const local = new AbortController();
        setMaxListeners(alerts.length + 10, local.signal);
        const onAbort = () => local.abort(signal.reason);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
        try {
          const outcomes = await Promise.allSettled(
            alerts.map((alert) => connection.publish(buildMqttMessage(alert, { topic: config.topic, protocolVersion: config.protocolVersion }), local.signal)),
          );
          return sendResult(alerts, outcomes);
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      },
      close: () => connection.close(),
    };
  },
});

/**
 * Every alert published concurrently, each with its own ack. All confirmed: done. All failed
 * alike (one alert, or the connection is down): the first failure is the send's. Otherwise the
 * retryable ones go back to the queue, the others are dead-lettered with the broker's reason.
 */
export function sendResult(alerts: Alert[], outcomes: PromiseSettledResult<void>[]): SendResult | void {
  const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ alert: alerts[i]!, error: asDeliveryError(o.reason) }] : []));
  if (failed.length === 0) return;
  const uniform = failed.every((f) => f.error.retryable === failed[0]!.error.retryable);
  if (failed.length === alerts.length && uniform) throw failed[0]!.error;
  return {
    retry: failed.filter((f) => f.error.retryable).map((f) => f.alert),
    rejected: failed.filter((f) => !f.error.retryable).map((f) => ({ alert: f.alert, reason: f.error.message })),
  };
}

function asDeliveryError(err: unknown): DeliveryError {
  if (isDeliveryError(err)) return err;
  return new DeliveryError(`mqtt publish failed: ${(err as Error)?.message ?? String(err)}`, { retryable: true, reason: 'network' });
}
