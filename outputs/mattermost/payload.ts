import type { Alert } from '../../src/alert/alert.js';
import type { Priority } from '../../src/alert/priority.js';
import { alertChatFields, digestChatFields, SLACK_COLORS, truncate, type ChatField } from '../kit/chat-fields.js';
import { mentionPrefix } from '../kit/options.js';
import { renderMessage, renderTitle } from '../kit/template.js';
import { digestOf, digestSummary, digestText, type DigestInfo } from '../../src/alert/digest.js';

/**
 * What one message may hold. Mattermost caps a post's text at 16,383 characters (outputs.md §6.3)
 * and an attachment's props far higher; the field caps are Falconet's, for a readable post.
 */
export const MATTERMOST_LIMITS = {
  text: 16_383,
  title: 1_000,
  attachmentText: 8_000,
  fieldValue: 1_000,
  fields: 60,
} as const;

/** Shorter values share a row (Slack's and Falcosidekick's rule). */
const SHORT_BELOW = 36;

export interface MattermostPayloadOptions {
  title?: string;
  messageFormat?: string;
  /** `@channel`, `@here`, `@all`, `@username`: written as the post's text, which notifies. */
  mentions?: readonly string[];
  channel?: string;
  username?: string;
  iconUrl?: string;
}

export interface MattermostAttachment {
  fallback: string;
  color: string;
  title: string;
  text?: string;
  fields: Array<{ title: string; value: string; short: boolean }>;
  footer: string;
}

export interface MattermostMessage {
  text?: string;
  channel?: string;
  username?: string;
  icon_url?: string;
  attachments: [MattermostAttachment];
}

/**
 * Mattermost markdown, backslash-escaped (Falco output is attacker-influenced: `**`, `[x](url)`,
 * a leading `#` or `>` would restyle it), and @-mentions broken with a zero-width space after the
 * `@`, so `@channel` in a command line notifies nobody. Addresses (`a@b.c`) are left alone.
 */
export function escapeMattermost(text: string): string {
  return text
    .replace(/[\\*_~`|<>[\]]/g, '\\$&')
    .replace(/^(\s*)(#|-(?=\s))/gm, '$1\\$2')
    .replace(/^(\s*\d+)\.(?=\s)/gm, '$1\\.')
    .replace(/(^|[^\w@])@(?=[\w.-])/g, '$1@\u200b');
}

/** Escapes, then truncates without a lone escaping backslash before the ellipsis. */
function md(text: string, max: number): string {
  const escaped = escapeMattermost(text);
  if (escaped.length <= max) return escaped;
  const cut = truncate(escaped, max);
  const run = /(\\+)…$/.exec(cut)?.[1]?.length ?? 0;
  return run % 2 === 1 ? `${cut.slice(0, -2)}…` : cut;
}

interface AttachmentContent {
  title: string;
  text: string;
  fields: ChatField[];
  footer: string[];
  priority: Priority;
}

function attachmentOf(c: AttachmentContent): MattermostAttachment {
  const shown = c.fields.slice(0, MATTERMOST_LIMITS.fields);
  const footer = [...c.footer];
  const text = c.text === '' ? '' : md(c.text, MATTERMOST_LIMITS.attachmentText);
  if (text.length < escapeMattermost(c.text).length) footer.push('output truncated');
  if (shown.length < c.fields.length) footer.push(`${c.fields.length - shown.length} more fields not shown`);
  return {
    // Notifications and clients without attachments show the fallback: plain text.
    fallback: truncate(c.title, MATTERMOST_LIMITS.title),
    color: SLACK_COLORS[c.priority],
    title: md(c.title, MATTERMOST_LIMITS.title),
    ...(text !== '' ? { text } : {}),
    fields: shown.map((f) => ({ title: truncate(f.title, 200), value: md(f.value, MATTERMOST_LIMITS.fieldValue), short: f.value.length < SHORT_BELOW })),
    footer: footer.join(' · '),
  };
}

/**
 * One post per alert: a Slack-compatible attachment coloured by priority (title, the output as
 * text, the alert's fields), the configured mentions as the post's text, and the channel,
 * username and icon overrides when set (the server honours them only if it allows overrides).
 */
export function buildMattermostMessage(alert: Alert, opts: MattermostPayloadOptions): MattermostMessage {
  const digest = digestOf(alert);
  const content: AttachmentContent = digest
    ? digestContent(alert, digest)
    : {
        title: renderTitle(opts, alert),
        text: renderMessage(opts, alert),
        fields: alertChatFields(alert),
        footer: [alert.time, `id ${alert.id}`],
        priority: alert.priority,
      };
  const message: MattermostMessage = { attachments: [attachmentOf(content)] };
  const mentions = mentionPrefix(opts).trim();
  if (mentions !== '') message.text = truncate(mentions, MATTERMOST_LIMITS.text);
  if (opts.channel) message.channel = opts.channel;
  if (opts.username) message.username = opts.username;
  if (opts.iconUrl) message.icon_url = opts.iconUrl;
  return message;
}

/** A digest: the summary as title, why and an example as text, where from as fields. */
function digestContent(alert: Alert, info: DigestInfo): AttachmentContent {
  return {
    title: digestSummary(alert, info),
    text: digestText(info, '\n'),
    fields: digestChatFields(alert, info, { withRule: true }),
    footer: [`digest ${alert.id}`, `${info.suppressed} alerts`],
    priority: alert.priority,
  };
}
