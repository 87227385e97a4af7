import type { Alert } from '../../src/alert/alert.js';
import { digestOf } from '../../src/alert/digest.js';
import { stringifyJson } from '../../src/alert/json.js';
import { renderKeyTemplate, type KeyTemplateSyntax } from '../kit/key-template.js';

/** NATS subjects: `.` between tokens; `*` and `>` are wildcards, whitespace ends the subject. */
export const SUBJECT_SYNTAX: KeyTemplateSyntax = { what: 'subject', separator: '.', forbidden: '*> ' };

/** Falcosidekick's subject, made of slugs here so a rule name can never add a token or a wildcard. */
export const DEFAULT_SUBJECT = 'falco.{priority}.{rule}';

/** JetStream drops a second message with the same id inside the stream's duplicate window. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/** One alert as a NATS message: what the builder decides, before the client frames it. */
export interface NatsMessage {
  subject: string;
  /** In this order; values are single-line. */
  headers: Array<[name: string, value: string]>;
  /** The alert JSON (big integers exact). */
  body: string;
}

/** Header values are one line of printable text: Falco strings are attacker-influenced. */
function headerValue(value: string): string {
  return value.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 1024);
}

export function buildNatsMessage(alert: Alert, subjectTemplate: string = DEFAULT_SUBJECT): NatsMessage {
  const headers: Array<[string, string]> = [
    [MSG_ID_HEADER, alert.id],
    ['Content-Type', 'application/json'],
    ['Falco-Priority', alert.priority],
    ['Falco-Rule', alert.rule],
    ['Falco-Source', alert.source],
    ['Falco-Time', alert.time],
  ];
  if (alert.hostname) headers.push(['Falco-Hostname', alert.hostname]);
  if (alert.tags.length > 0) headers.push(['Falco-Tags', alert.tags.join(',')]);
  const digest = digestOf(alert);
  if (digest) headers.push(['Falconet-Digest', digest.cause], ['Falconet-Suppressed', String(digest.suppressed)]);
  return {
    subject: renderKeyTemplate(subjectTemplate, alert, SUBJECT_SYNTAX),
    headers: headers.map(([name, value]) => [name, headerValue(value)] as [string, string]).filter(([, v]) => v !== ''),
    body: stringifyJson(alert),
  };
}

/**
 * A message as the NATS protocol carries it from the client (`HPUB subject reply? hdr_len total_len`,
 * then the `NATS/1.0` header block and the body), for goldens and the docs: the reply subject
 * JetStream acks to is the client's inbox and left out.
 */
export function wireFrame(message: NatsMessage): string {
  const block = `NATS/1.0\r\n${message.headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const hdr = Buffer.byteLength(block);
  return `HPUB ${message.subject} ${hdr} ${hdr + Buffer.byteLength(message.body)}\r\n${block}${message.body}\r\n`;
}
