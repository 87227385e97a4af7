import type { Alert } from '../../src/alert/alert.js';
import { alertChatFields, digestChatFields, truncate, type ChatField } from '../kit/chat-fields.js';
import { mentionPrefix } from '../kit/options.js';
import { renderMessage, renderTitle } from '../kit/template.js';
import { digestOf, digestSummary, digestText, type DigestInfo } from '../../src/alert/digest.js';

/** Webex refuses a message whose `markdown` or `text` is above 7,439 bytes. */
export const WEBEX_MAX_BYTES = 7_439;
export const WEBEX_MESSAGES_PATH = '/v1/messages';
/** Room kept for the last line (time, id, what was cut). */
const FOOTER_BYTES = 300;
/** The output paragraph takes at most this much, so some fields always fit after it. */
const OUTPUT_BYTES = 4_000;

export interface WebexPayloadOptions {
  roomId?: string;
  toPersonEmail?: string;
  title?: string;
  messageFormat?: string;
  /** `<@all>`, `<@personEmail:a@b.c>`, `<@personId:…>`: the first line of the markdown. */
  mentions?: readonly string[];
}

export interface WebexMessage {
  roomId?: string;
  toPersonEmail?: string;
  /** Plain-text alternative for clients (and notifications) without markdown. */
  text: string;
  markdown: string;
}

/**
 * Webex markdown, backslash-escaped (Falco output is attacker-influenced: `**`, `[x](url)`, a
 * leading `#` or `>` would restyle it), and `<@` broken with a zero-width space so a `<@all>` in a
 * command line mentions nobody.
 */
export function escapeWebexMarkdown(text: string): string {
  return text
    .replace(/[\\*_~`|<>[\]#]/g, '\\$&')
    .replace(/^(\s*)([-+](?=\s))/gm, '$1\\$2')
    .replace(/^(\s*\d+)\.(?=\s)/gm, '$1\\.')
    .replace(/<@/g, '<\u200b@');
}

/** The longest prefix of `text` (ending in an ellipsis) within `maxBytes` of UTF-8. */
export function truncateBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(truncate(text, mid)) <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo === 0 ? '' : truncate(text, lo);
}

/** Escapes, then cuts to `maxBytes` without a lone escaping backslash before the ellipsis. */
function md(text: string, maxBytes: number): string {
  const escaped = escapeWebexMarkdown(text);
  const cut = truncateBytes(escaped, maxBytes);
  if (cut === escaped) return cut;
  const run = /(\\+)…$/.exec(cut)?.[1]?.length ?? 0;
  return run % 2 === 1 ? `${cut.slice(0, -2)}…` : cut;
}

const bytes = (s: string) => Buffer.byteLength(s);

interface MessageContent {
  title: string;
  body: string;
  fields: ChatField[];
  footer: string[];
}

function markdownOf(c: MessageContent, mentions: string): string {
  const head = `${mentions !== '' ? `${mentions}\n` : ''}**${md(c.title, 500)}**`;
  const body = c.body === '' ? '' : md(c.body, Math.min(OUTPUT_BYTES, WEBEX_MAX_BYTES - bytes(head) - FOOTER_BYTES - 4));
  const parts = [head];
  if (body !== '') parts.push(body);
  let used = bytes(parts.join('\n\n')) + 2;
  const lines: string[] = [];
  for (const f of c.fields) {
    const line = `- **${md(f.title, 200)}**: ${md(f.value, 1_000)}`;
    if (used + bytes(line) + 1 > WEBEX_MAX_BYTES - FOOTER_BYTES) break;
    lines.push(line);
    used += bytes(line) + 1;
  }
  if (lines.length > 0) parts.push(lines.join('\n'));
  const footer = [...c.footer];
  if (body !== escapeWebexMarkdown(c.body)) footer.push('output truncated');
  if (lines.length < c.fields.length) footer.push(`${c.fields.length - lines.length} more fields not shown`);
  parts.push(`_${md(footer.join(' · '), FOOTER_BYTES - 4)}_`);
  return parts.join('\n\n');
}

/**
 * One Webex message per alert: markdown with the title in bold, the output, the fields as a list
 * and a last line with the time and id, within Webex's 7,439 bytes; `text` the plain title.
 */
export function buildWebexMessage(alert: Alert, opts: WebexPayloadOptions): WebexMessage {
  const digest = digestOf(alert);
  const content: MessageContent = digest
    ? digestContent(alert, digest)
    : {
        title: renderTitle(opts, alert),
        body: renderMessage(opts, alert),
        fields: alertChatFields(alert),
        footer: [alert.time, `id ${alert.id}`],
      };
  const mentions = truncateBytes(mentionPrefix(opts).trim(), 1_000);
  // `text` is plain, but a `<@all>` in a rule name must not become a mention there either.
  const message: WebexMessage = { text: truncateBytes(content.title.replace(/<@/g, '<\u200b@'), WEBEX_MAX_BYTES), markdown: markdownOf(content, mentions) };
  if (opts.roomId) return { roomId: opts.roomId, ...message };
  if (opts.toPersonEmail) return { toPersonEmail: opts.toPersonEmail, ...message };
  return message;
}

/** A digest: the summary as title, why and an example as body, where from as fields. */
function digestContent(alert: Alert, info: DigestInfo): MessageContent {
  return {
    title: digestSummary(alert, info),
    body: digestText(info, '\n\n'),
    fields: digestChatFields(alert, info, { withRule: true }),
    footer: [`digest ${alert.id}`, `${info.suppressed} alerts`],
  };
}
