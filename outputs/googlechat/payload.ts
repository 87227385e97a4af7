import type { Alert } from '../../src/alert/alert.js';
import type { Priority } from '../../src/alert/priority.js';
import { alertChatFields, digestChatFields, SLACK_COLORS, truncate, type ChatField } from '../kit/chat-fields.js';
import { mentionPrefix } from '../kit/options.js';
import { renderMessage, renderTemplate, renderTitle } from '../kit/template.js';
import { digestOf, digestSummary, digestText, type DigestInfo } from '../../src/alert/digest.js';

/**
 * Google Chat takes about 32,000 bytes per message and 4,096 characters of `text` (outputs.md §6.4,
 * marked uncertain there): the whole body is kept under this budget, with room to spare.
 */
export const GOOGLECHAT_MAX_BODY_BYTES = 30_000;
export const GOOGLECHAT_MAX_TEXT = 4_000;
/** Thread keys take up to 4,000 characters. */
export const GOOGLECHAT_MAX_THREAD_KEY = 4_000;
/** The default thread per rule: each rule's alerts collect under one thread. */
export const DEFAULT_THREAD_KEY = '{{rule}}';

/** Fields shown before "Show more" in the collapsible fields section. */
const UNCOLLAPSED_FIELDS = 6;

/**
 * Successively tighter cuts; the first that fits the byte budget wins, so an ordinary alert goes
 * whole and only a huge one loses detail. The last level fits whatever the input.
 */
const SHRINK_LEVELS = [
  { output: 8_000, value: 1_000, fields: Number.POSITIVE_INFINITY },
  { output: 4_000, value: 500, fields: 60 },
  { output: 2_000, value: 200, fields: 30 },
  { output: 500, value: 100, fields: 15 },
] as const;

export interface GoogleChatPayloadOptions {
  title?: string;
  messageFormat?: string;
  /** `<users/all>`, `<users/123456789>`: written at the start of `text`, which notifies. */
  mentions?: readonly string[];
  /** Mustache template; unset: `{{rule}}`. `threading: false` sends no thread. */
  threadKey?: string;
  threading?: boolean;
}

type Widget = { textParagraph: { text: string } } | { decoratedText: { topLabel: string; text: string; wrapText: true } };

interface Section {
  header?: string;
  collapsible?: boolean;
  uncollapsibleWidgetsCount?: number;
  widgets: Widget[];
}

export interface GoogleChatMessage {
  text: string;
  cardsV2: [{ cardId: string; card: { header: { title: string; subtitle: string }; sections: Section[] } }];
  thread?: { threadKey: string };
}

/** Card text is a small HTML subset: Falco output (`<NA>`, `a && b`) is escaped to show as typed. */
export function escapeCardText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * `text` is Chat's own markup: `<users/all>` there would notify the whole space, so a `<` from the
 * alert gets a zero-width space after it (reads the same, mentions nobody), and `*`, `_`, `~`, `` ` ``
 * lose their meaning the same way.
 */
export function neutraliseChatText(text: string): string {
  return text.replace(/[<*_~`]/g, '$&\u200b');
}

/** Escapes for a card, then truncates without leaving half an entity (`&am…`) behind. */
function html(text: string, max: number): string {
  const escaped = escapeCardText(text);
  if (escaped.length <= max) return escaped;
  return truncate(escaped, max).replace(/&[a-z]{0,3}…$/, '…');
}

interface CardContent {
  title: string;
  subtitle: string;
  body: string;
  fields: ChatField[];
  footer: string[];
  priority: Priority;
}

function fieldWidget(f: ChatField, max: number, priority: Priority): Widget {
  const text = f.title === 'Priority' ? `<font color="${SLACK_COLORS[priority]}"><b>${html(f.value, max)}</b></font>` : html(f.value, max);
  return { decoratedText: { topLabel: truncate(f.title, 200), text, wrapText: true } };
}

function card(c: CardContent, level: (typeof SHRINK_LEVELS)[number]): GoogleChatMessage['cardsV2'][0]['card'] {
  const sections: Section[] = [];
  const body = c.body === '' ? '' : html(c.body, level.output);
  if (body !== '') sections.push({ widgets: [{ textParagraph: { text: body } }] });
  const fields = c.fields.slice(0, level.fields);
  if (fields.length > 0) {
    sections.push({
      header: 'Fields',
      collapsible: fields.length > UNCOLLAPSED_FIELDS,
      ...(fields.length > UNCOLLAPSED_FIELDS ? { uncollapsibleWidgetsCount: UNCOLLAPSED_FIELDS } : {}),
      widgets: fields.map((f) => fieldWidget(f, level.value, c.priority)),
    });
  }
  const footer = [...c.footer];
  if (body.length < escapeCardText(c.body).length) footer.push('output truncated');
  if (fields.length < c.fields.length) footer.push(`${c.fields.length - fields.length} more fields not shown`);
  sections.push({ widgets: [{ textParagraph: { text: `<font color="#808080">${escapeCardText(footer.join(' · '))}</font>` } }] });
  return { header: { title: truncate(c.title, 200), subtitle: truncate(c.subtitle, 200) }, sections };
}

/** The thread of an alert: the rendered `threadKey` template (default: the rule). */
export function threadKeyOf(alert: Alert, opts: GoogleChatPayloadOptions): string | undefined {
  if (opts.threading === false) return undefined;
  const key = renderTemplate(opts.threadKey ?? DEFAULT_THREAD_KEY, alert).trim();
  return key === '' ? alert.rule : truncate(key, GOOGLECHAT_MAX_THREAD_KEY);
}

/**
 * One message per alert: a cardsV2 card (header with the title and where/when, the output, the
 * fields in a collapsible section), `text` with the configured mentions and the title for
 * notifications, and `thread.threadKey` so each rule's alerts share one thread.
 */
export function buildGoogleChatMessage(alert: Alert, opts: GoogleChatPayloadOptions): GoogleChatMessage {
  const digest = digestOf(alert);
  const content: CardContent = digest
    ? digestContent(alert, digest)
    : {
        title: renderTitle(opts, alert),
        subtitle: [alert.hostname, alert.source, alert.time].filter(Boolean).join(' · '),
        body: renderMessage(opts, alert),
        fields: alertChatFields(alert),
        footer: [`id ${alert.id}`],
        priority: alert.priority,
      };
  const text = truncate(mentionPrefix(opts) + neutraliseChatText(content.title), GOOGLECHAT_MAX_TEXT);
  const threadKey = threadKeyOf(alert, opts);
  let message: GoogleChatMessage | undefined;
  for (const level of SHRINK_LEVELS) {
    message = { text, cardsV2: [{ cardId: 'falconet-alert', card: card(content, level) }], ...(threadKey ? { thread: { threadKey } } : {}) };
    if (Buffer.byteLength(JSON.stringify(message)) <= GOOGLECHAT_MAX_BODY_BYTES) break;
  }
  return message!;
}

/** A digest card: the summary as title, why and an example as text, where from as fields. */
function digestContent(alert: Alert, info: DigestInfo): CardContent {
  return {
    title: digestSummary(alert, info),
    subtitle: `${info.suppressed} alerts · ${info.firstTime} – ${info.lastTime}`,
    body: digestText(info, '\n'),
    fields: digestChatFields(alert, info, { withRule: true }),
    footer: [`digest ${alert.id}`],
    priority: alert.priority,
  };
}
