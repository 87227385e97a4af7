import { z } from 'zod';
import type { Alert } from '../../src/alert/alert.js';
import { defineOutput } from '../kit/define.js';
import { duration } from '../kit/duration.js';
import { DeliveryError } from '../kit/errors.js';
import { brokerOptions, keyTemplate } from '../kit/options.js';
import type { SendResult } from '../kit/types.js';
import { AmqpLink, amqpTarget, type PublishOutcome } from './connection.js';
import { DEFAULT_ROUTING_KEY, ROUTING_KEY_SYNTAX, buildMessage } from './payload.js';

const options = {
  /** amqp://host:5672/vhost or amqps://…; the path is the vhost (`%2F` for `/`). */
  ...brokerOptions(/^amqps?$/),
  /** The topic exchange alerts are published to. */
  exchange: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,255}$/, 'letters, digits, "-", "_", "." and ":" (at most 255)')
    .default('falco'),
  /** Declare the exchange (durable, topic) at every connect; false: it must exist (checked at connect). */
  declareExchange: z.boolean().default(true),
  /** Routing key template: `{rule}`, `{priority}`, `{source}`, `{hostname}`, `{namespace}`, `{output_fields.<key>}`… */
  routingKey: keyTemplate(ROUTING_KEY_SYNTAX).default(DEFAULT_ROUTING_KEY),
  /** Publish as mandatory: an alert no queue is bound for comes back (basic.return) and is retried. */
  mandatory: z.boolean().default(true),
  /** AMQP heartbeat interval (whole seconds on the wire); 0 turns heartbeats off; unset: the broker's (60s). */
  heartbeat: duration.refine((v) => v <= 65_535_000, 'at most 65535s').optional(),
};

const describeFailure: Record<Exclude<PublishOutcome['kind'], 'confirmed'>, { text: string; reason: DeliveryError['reason'] }> = {
  nacked: { text: 'the broker nacked the message (a queue refused it, e.g. full with x-overflow reject-publish)', reason: 'server_error' },
  unroutable: { text: 'unroutable: no queue is bound for its routing key (mandatory publish returned)', reason: 'client_error' },
  lost: { text: 'the channel closed before the broker confirmed', reason: 'network' },
};

export const rabbitmqOutput = defineOutput({
  type: 'rabbitmq',
  summary: 'RabbitMQ (AMQP 0-9-1): persistent messages on a durable topic exchange, publisher confirms, messageId = alert id',
  transport: 'socket',
  options,
  batching: 'optional',
  defaultOverflow: 'queue',
  secretKeys: ['password'],
  example: ({ host, port }) => ({ type: 'rabbitmq', url: `amqp://${host}:${port}/falco`, username: 'falconet', password: 's3cr3t-amqp-password' }),
  check(config) {
    const problems: Array<{ key: string; message: string }> = [];
    const url = new URL(config.url);
    if (config.tls && url.protocol !== 'amqps:') problems.push({ key: 'tls', message: 'tls needs an amqps:// url' });
    if (url.search !== '') problems.push({ key: 'url', message: 'query parameters are not read; use the heartbeat key' });
    if (config.declareExchange && config.exchange.startsWith('amq.')) {
      problems.push({ key: 'exchange', message: 'amq.* exchanges belong to the broker and cannot be declared: set declareExchange: false' });
    }
    return problems;
  },
  create(config, { logger }) {
    const link = new AmqpLink({
      target: amqpTarget(config),
      exchange: config.exchange,
      declareExchange: config.declareExchange,
      logger,
    });
    return {
      async send(alerts, { signal }): Promise<SendResult | void> {
        const messages = alerts.map((a) => buildMessage(a, { routingKey: config.routingKey, mandatory: config.mandatory }));
        const outcomes = await link.publish(messages, signal);
        const failed: Array<{ alert: Alert; outcome: Exclude<PublishOutcome, { kind: 'confirmed' }> }> = [];
        outcomes.forEach((outcome, i) => {
          if (outcome.kind !== 'confirmed') failed.push({ alert: alerts[i]!, outcome });
        });
        if (failed.length === 0) return;
        // Some confirmed: retry only the others. None: the whole send failed, so the queue backs off.
        if (failed.length < alerts.length) return { retry: failed.map((f) => f.alert) };
        const first = failed[0]!;
        const { text, reason } = describeFailure[first.outcome.kind];
        const key = first.outcome.kind === 'unroutable' ? ` "${messages[0]!.routingKey}" on exchange "${config.exchange}"` : '';
        throw new DeliveryError(`rabbitmq ${link.where}: ${text}${key}`, { retryable: true, reason });
      },
      close: () => link.close(),
    };
  },
});
