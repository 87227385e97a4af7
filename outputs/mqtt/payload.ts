import type { Alert } from '../../src/alert/alert.js';
import { DIGEST_FIELD } from '../../src/alert/digest.js';
import { stringifyJson } from '../../src/alert/json.js';
import { DeliveryError, type FailureReason } from '../kit/errors.js';
import { renderKeyTemplate, type KeyTemplateSyntax } from '../kit/key-template.js';

/** MQTT topic names: levels split by `/`; `+` and `#` are subscription wildcards, never in a name. */
export const MQTT_TOPIC: KeyTemplateSyntax = { what: 'topic', separator: '/', forbidden: '+#' };
export const DEFAULT_TOPIC = 'falco/{priority}/{rule}';

export interface MqttMessage {
  topic: string;
  /** The alert as JSON (Falco's keys plus Falconet's `id`), big integers exact. */
  payload: string;
  /** MQTT 5 PUBLISH properties; none under 3.1.1, which has no properties. */
  properties?: {
    contentType: string;
    payloadFormatIndicator: boolean;
    userProperties: Record<string, string>;
  };
}

/**
 * One PUBLISH per alert. Under MQTT 5 the payload is declared UTF-8 JSON (payload format
 * indicator 1, content type application/json) and user properties repeat what a consumer filters
 * on without parsing the payload: the alert id (for deduplicating an at-least-once redelivery),
 * rule, priority, source and hostname, and `digest: true` on a storm-control digest.
 */
export function buildMqttMessage(alert: Alert, opts: { topic: string; protocolVersion: 4 | 5 }): MqttMessage {
  const message: MqttMessage = { topic: renderKeyTemplate(opts.topic, alert, MQTT_TOPIC), payload: stringifyJson(alert) };
  if (opts.protocolVersion === 5) {
    const userProperties: Record<string, string> = {
      'alert-id': propertyText(alert.id),
      rule: propertyText(alert.rule),
      priority: alert.priority,
      source: propertyText(alert.source),
    };
    if (alert.hostname) userProperties.hostname = propertyText(alert.hostname);
    if (alert.output_fields[DIGEST_FIELD] === true) userProperties.digest = 'true';
    message.properties = { contentType: 'application/json', payloadFormatIndicator: true, userProperties };
  }
  return message;
}

/** Longest user property value, in UTF-16 units (an MQTT string holds at most 65,535 bytes). */
export const MAX_PROPERTY_CHARS = 1024;
// C0 and C1 controls (NUL is forbidden, the rest "SHOULD NOT" appear: mosquitto refuses the
// packet and drops the connection), lone surrogates and the Unicode noncharacters (U+FDD0-U+FDEF
// and the last two code points of every plane).
const NONCHARACTERS = Array.from({ length: 17 }, (_, plane) => `\\u{${(plane * 0x10000 + 0xfffe).toString(16)}}-\\u{${(plane * 0x10000 + 0xffff).toString(16)}}`).join('');
const NOT_MQTT_TEXT = new RegExp(`[\\u{0}-\\u{1f}\\u{7f}-\\u{9f}\\u{d800}-\\u{dfff}\\u{fdd0}-\\u{fdef}${NONCHARACTERS}]`, 'gu');

/**
 * An alert value as an MQTT 5 UTF-8 string: what a broker would refuse becomes U+FFFD, and long
 * values are cut (the payload keeps them whole). The payload itself is JSON, where such
 * characters are escaped.
 */
export function propertyText(value: string): string {
  return value.slice(0, MAX_PROPERTY_CHARS).replace(NOT_MQTT_TEXT, '\ufffd');
}

/** Literal text the kit's key-template check allows but MQTT reserves. */
export function checkMqttTopic(template: string): string | undefined {
  if (template.startsWith('$')) return 'a topic may not start with "$" (reserved for the broker, like $SYS)';
  if (new RegExp(NOT_MQTT_TEXT.source, 'u').test(template)) return 'the topic holds a control character or a Unicode noncharacter, which brokers refuse';
  return undefined;
}

const AUTH_CODES = new Set([4, 5, 134, 135, 138, 140]);
/** CONNACK codes that a retry cannot fix: the client id or protocol version is refused. */
const CONFIG_CODES = new Set([1, 2, 132, 133]);
const RATE_CODES = new Set([150, 151, 159]);
/** PUBACK/PUBREC codes for a message the broker will never take as it is. */
const INVALID_CODES = new Set([144, 149, 153]);

/** mqtt.js reports broker reason codes as an Error with a numeric `code` (ErrorWithReasonCode). */
export function reasonCodeOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * A refused connection (CONNACK with a reason code). Bad credentials or a missing authorisation
 * are `auth_error` and retried, by the kit's rule for persistent links (outputs/kit/options.ts
 * brokerOptions): the connection keeps retrying in the background and a rotated credential fixes
 * it, so the alerts wait in the queue (dead letters only once retry.maxDuration is spent). A
 * refused client id or protocol version is a config error; a busy or unavailable broker is retried.
 */
export function connackError(code: number, target: string): DeliveryError {
  const text = `${target}: broker refused the connection (reason code ${code})`;
  if (AUTH_CODES.has(code)) return new DeliveryError(`${text}: bad credentials or not authorised`, { retryable: true, reason: 'auth_error' });
  if (CONFIG_CODES.has(code)) return new DeliveryError(`${text}: client id or protocol version refused`, { retryable: false, reason: 'client_error' });
  if (RATE_CODES.has(code)) return new DeliveryError(`${text}: rate or quota exceeded`, { retryable: true, reason: 'rate_limited' });
  return new DeliveryError(text, { retryable: true, reason: 'server_error' });
}

/**
 * A PUBACK (QoS 1) or PUBREC (QoS 2) with an error reason code (MQTT 5 only; a 3.1.1 broker
 * acknowledges a publish it drops, e.g. one its ACL denies). 135 Not authorised: the ACL refuses
 * the topic, for good. Topic invalid, packet too large, payload format invalid: for good. Quota
 * or message rate: retried. Anything else (unspecified, implementation specific): retried.
 */
export function publishError(code: number, target: string): DeliveryError {
  const text = `${target}: broker refused the publish (reason code ${code})`;
  let reason: FailureReason = 'server_error';
  let retryable = true;
  if (code === 135) [reason, retryable] = ['auth_error', false];
  else if (INVALID_CODES.has(code)) [reason, retryable] = ['invalid_payload', false];
  else if (RATE_CODES.has(code)) reason = 'rate_limited';
  return new DeliveryError(text, { retryable, reason });
}
