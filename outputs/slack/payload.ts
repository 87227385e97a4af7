import type { Alert } from '../../src/alert/alert.js';
import { alertChatFields, digestChatFields, SLACK_COLORS, truncate, type ChatField } from '../kit/chat-fields.js';
import { mentionPrefix } from '../kit/options.js';
import { renderMessage, renderTitle } from '../kit/template.js';
import { causeText, digestOf, digestSummary, type DigestInfo } from '../../src/alert/digest.js';

/** Slack's limits (outputs.md §1.3). */
export const SLACK_LIMITS = {
  headerText: 150,
  sectionText: 3000,
  fieldText: 2000,
  fieldsPerSection: 10,
  blocks: 50,
  topLevelText: 4000,
  /** Cumulative block text much above ~13k chars fails with msg_blocks_too_long. */
  blockTextBudget: 12_000,
} as const;


export type SlackOutputFormat = 'all' | 'text' | 'fields';

export interface SlackPayloadOptions {
  outputFormat: SlackOutputFormat;
  channel?: string;
  username?: string;
  title?: string;
  messageFormat?: string;
  /** Written before the top-level text, which is what notifies. */
  mentions?: readonly string[];
}

type TextObject = { type: 'plain_text' | 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: TextObject }
  | { type: 'section'; text: TextObject }
  | { type: 'section'; fields: TextObject[] }
  | { type: 'context'; elements: TextObject[] };

export interface SlackMessage {
  text: string;
  channel?: string;
  username?: string;
  attachments: [{ color: string; fallback: string; blocks: SlackBlock[] }];
}

/**
 * mrkdwn control characters. Falco output is attacker-influenced and full of `<NA>`, which Slack
 * would otherwise read as a link or a mention.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Escapes, then truncates without leaving half an entity (`&am…`) behind. */
function mrkdwn(text: string, max: number): string {
  const escaped = escapeMrkdwn(text);
  if (escaped.length <= max) return escaped;
  return truncate(escaped, max).replace(/&[a-z]{0,3}…$/, '…');
}

function fieldText(field: ChatField): string {
  const title = `*${mrkdwn(field.title, 200)}*\n`;
  return title + mrkdwn(field.value, SLACK_LIMITS.fieldText - title.length);
}

/**
 * Field sections of at most 10 fields each, stopping before Slack's block count or text budget
 * would be exceeded; what does not fit is counted in the context line instead of being lost silently.
 */
function fieldSections(fields: ChatField[], maxSections: number, textBudget: number): { blocks: SlackBlock[]; omitted: number } {
  const blocks: SlackBlock[] = [];
  let current: TextObject[] = [];
  let used = 0;
  let shown = 0;
  for (const field of fields) {
    const text = fieldText(field);
    const needsSection = current.length === 0;
    if (used + text.length > textBudget || (needsSection && blocks.length >= maxSections)) break;
    if (needsSection) blocks.push({ type: 'section', fields: current });
    current.push({ type: 'mrkdwn', text });
    used += text.length;
    shown++;
    if (current.length === SLACK_LIMITS.fieldsPerSection) current = [];
  }
  return { blocks, omitted: fields.length - shown };
}

/** One Slack message per alert: a coloured attachment holding Block Kit blocks (outputs.md §1.5). */
export function buildSlackMessage(alert: Alert, opts: SlackPayloadOptions): SlackMessage {
  const digest = digestOf(alert);
  if (digest) return buildSlackDigest(alert, digest, opts);
  const title = renderTitle(opts, alert);
  const fallback = mrkdwn(title, SLACK_LIMITS.topLevelText);
  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: truncate(title, SLACK_LIMITS.headerText) } }];
  let budget = SLACK_LIMITS.blockTextBudget - title.length;

  if (opts.outputFormat !== 'fields') {
    const message = renderMessage(opts, alert);
    if (message.trim() !== '') {
      const text = mrkdwn(message, SLACK_LIMITS.sectionText);
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text } });
      budget -= text.length;
    }
  }

  let omitted = 0;
  if (opts.outputFormat !== 'text') {
    // One block is kept back for the context line.
    const sections = fieldSections(alertChatFields(alert), SLACK_LIMITS.blocks - blocks.length - 1, budget);
    blocks.push(...sections.blocks);
    omitted = sections.omitted;
  }

  const context = [alert.time, `id ${alert.id}`];
  if (omitted > 0) context.push(`${omitted} more fields not shown`);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: mrkdwn(context.join(' · '), SLACK_LIMITS.sectionText) }] });

  const message: SlackMessage = { text: mentionPrefix(opts) + fallback, attachments: [{ color: SLACK_COLORS[alert.priority], fallback, blocks }] };
  if (opts.channel) message.channel = opts.channel;
  if (opts.username) message.username = opts.username;
  return message;
}

/**
 * A storm-control or overflow digest: "Terminal shell in container ×523 on 12 pods in team2,
 * 10:01:02–10:05:40 UTC" as the header, why the alerts were folded, where they came from (top
 * hosts, namespaces, pods, the rest summed) and the first folded alert's output as an example.
 */
export function buildSlackDigest(alert: Alert, info: DigestInfo, opts: SlackPayloadOptions): SlackMessage {
  const summary = digestSummary(alert, info);
  const fallback = mrkdwn(summary, SLACK_LIMITS.topLevelText);
  const lines = [causeText(info)];
  if (info.example !== '') lines.push(`*Example:* ${escapeMrkdwn(info.example)}`);
  const fields = digestChatFields(alert, info, { withRule: false });
  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(summary, SLACK_LIMITS.headerText) } },
    { type: 'section', text: { type: 'mrkdwn', text: truncate(lines.join('\n'), SLACK_LIMITS.sectionText) } },
    { type: 'section', fields: fields.map((f) => ({ type: 'mrkdwn' as const, text: fieldText(f) })) },
    { type: 'context', elements: [{ type: 'mrkdwn', text: mrkdwn(`digest ${alert.id} · ${info.suppressed} alerts`, SLACK_LIMITS.sectionText) }] },
  ];
  const message: SlackMessage = { text: mentionPrefix(opts) + fallback, attachments: [{ color: SLACK_COLORS[alert.priority], fallback, blocks }] };
  if (opts.channel) message.channel = opts.channel;
  if (opts.username) message.username = opts.username;
  return message;
}
