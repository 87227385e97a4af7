import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';
import { renderKeyTemplate, type KeyTemplateSyntax } from '../kit/key-template.js';

/**
 * AMQP 0-9-1 routing keys: words separated by `.`; `*` and `#` are binding wildcards and a
 * routing key is a short string (at most 255 bytes).
 */
export const ROUTING_KEY_SYNTAX: KeyTemplateSyntax = { what: 'routing key', separator: '.', forbidden: '*# ', maxLength: 255 };

export const DEFAULT_ROUTING_KEY = 'falco.{priority}.{rule}';

/** What basic.publish carries for one alert, besides the exchange. */
export interface AmqpMessage {
  routingKey: string;
  content: Buffer;
  properties: {
    /** 2: persistent (written to disk by a durable queue). */
    deliveryMode: 2;
    mandatory: boolean;
    contentType: 'application/json';
    messageId: string;
    timestamp: number;
    type: string;
    appId: 'falconet';
    headers: Record<string, string>;
  };
}

/**
 * One alert as one persistent message. The body is the alert as Falco sent it plus Falconet's `id`
 * (the webhook's JSON), big integers exact. `messageId` is the alert id, so a consumer can drop a
 * message it already has: publishing is at least once (a confirm lost with the connection means
 * the alert is published again). `timestamp` is Falco's event time in whole seconds, as AMQP
 * defines it; `type` is the rule. Headers let a headers exchange or a consumer filter without
 * parsing the body.
 */
export function buildMessage(alert: Alert, opts: { routingKey: string; mandatory: boolean }): AmqpMessage {
  const headers: Record<string, string> = { priority: alert.priority, rule: alert.rule, source: alert.source };
  if (alert.hostname) headers.hostname = alert.hostname;
  const millis = Date.parse(alert.time);
  return {
    routingKey: renderKeyTemplate(opts.routingKey, alert, ROUTING_KEY_SYNTAX),
    content: Buffer.from(stringifyJson(alert)),
    properties: {
      deliveryMode: 2,
      mandatory: opts.mandatory,
      contentType: 'application/json',
      messageId: alert.id,
      timestamp: Math.floor((Number.isNaN(millis) ? Date.now() : millis) / 1000),
      type: shortString(alert.rule),
      appId: 'falconet',
      headers,
    },
  };
}

/** A value cut to AMQP's short-string limit of 255 bytes, never inside a UTF-8 sequence. */
export function shortString(value: string): string {
  const bytes = Buffer.from(value);
  if (bytes.length <= 255) return value;
  let end = 255;
  // Step back over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}
