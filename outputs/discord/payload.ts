import type { Alert } from '../../src/alert/alert.js';
import type { Priority } from '../../src/alert/priority.js';
import { alertChatFields, digestChatFields, truncate, type ChatField } from '../kit/chat-fields.js';
import { renderMessage, renderTitle } from '../kit/template.js';
import { digestOf, digestSummary, digestText, type DigestInfo } from '../../src/alert/digest.js';

/** Discord's webhook and embed limits (outputs.md §6.2). */
export const DISCORD_LIMITS = {
  content: 2000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  /** Title, description, field names and values, footer: all embeds of a message together. */
  embedTotal: 6000,
} as const;

/** falcosidekick's Discord colours (outputs.md §0.2), as the integers Discord wants. */
export const DISCORD_COLORS: Record<Priority, number> = {
  Emergency: 15158332,
  Alert: 11027200,
  Critical: 15105570,
  Error: 15844367,
  Warning: 12745742,
  Notice: 3066993,
  Informational: 3447003,
  Debug: 12370112,
};

/** Room kept for the footer line while the description and fields take their share. */
const FOOTER_BUDGET = 200;
/** A field value shorter than this is shown inline (three to a row). */
const INLINE_BELOW = 40;

export interface DiscordPayloadOptions {
  title?: string;
  messageFormat?: string;
  /** `<@id>`, `<@!id>`, `<@&id>`, `@everyone`, `@here`: written to `content`, and only they may ping. */
  mentions?: readonly string[];
  username?: string;
  avatarUrl?: string;
}

export interface DiscordEmbed {
  title: string;
  description?: string;
  color: number;
  timestamp?: string;
  fields: Array<{ name: string; value: string; inline: boolean }>;
  footer: { text: string };
}

export interface DiscordAllowedMentions {
  parse: Array<'everyone'>;
  users?: string[];
  roles?: string[];
}

export interface DiscordMessage {
  content?: string;
  username?: string;
  avatar_url?: string;
  embeds: [DiscordEmbed];
  allowed_mentions: DiscordAllowedMentions;
}

/** The mention syntaxes Discord pings for, the only ones `mentions` accepts. */
export const DISCORD_MENTION = /^(<@!?(\d{1,20})>|<@&(\d{1,20})>|@everyone|@here)$/;

/**
 * Discord markdown control characters, backslash-escaped: Falco output is attacker-influenced
 * (`*`, `_`, `` ` ``, `~`, `|` would restyle it, `[text](url)` would mask a link, `<@id>` renders
 * as a mention, a leading `#`, `-` or `>` as a heading, list or quote). Escaped text reads the same.
 */
export function escapeDiscordMarkdown(text: string): string {
  return text.replace(/[\\*_~`|<>[\]]/g, '\\$&').replace(/^(\s*)(#|-(?=[\s#]))/gm, '$1\\$2');
}

/** Escapes, then truncates without leaving a lone escaping backslash before the ellipsis. */
function md(text: string, max: number): string {
  const escaped = escapeDiscordMarkdown(text);
  if (escaped.length <= max) return escaped;
  const cut = truncate(escaped, max);
  // An odd run of backslashes before the ellipsis would escape it: drop one.
  const run = /(\\+)…$/.exec(cut)?.[1]?.length ?? 0;
  return run % 2 === 1 ? `${cut.slice(0, -2)}…` : cut;
}

/**
 * `content` and `allowed_mentions` for the configured mentions. `parse` is always empty unless
 * the instance itself asks for `@everyone`/`@here`: nothing in an alert can ping anyone (embeds
 * never ping, and `content` holds only the configured mentions).
 */
export function discordMentions(mentions: readonly string[] = []): { content?: string; allowed: DiscordAllowedMentions } {
  const allowed: DiscordAllowedMentions = { parse: [] };
  const users: string[] = [];
  const roles: string[] = [];
  for (const m of mentions) {
    const match = DISCORD_MENTION.exec(m);
    if (!match) continue;
    if (match[2]) users.push(match[2]);
    else if (match[3]) roles.push(match[3]);
    else allowed.parse = ['everyone'];
  }
  if (users.length > 0) allowed.users = [...new Set(users)].slice(0, 100);
  if (roles.length > 0) allowed.roles = [...new Set(roles)].slice(0, 100);
  const valid = mentions.filter((m) => DISCORD_MENTION.test(m));
  return { content: valid.length > 0 ? truncate(valid.join(' '), DISCORD_LIMITS.content) : undefined, allowed };
}

/**
 * Fields while they fit Discord's 25 and what is left of the 6,000-character budget. A value too
 * long for what remains is cut, unless less than 100 characters remain (a stub helps nobody); what
 * is not shown is counted in the footer.
 */
function fitFields(fields: ChatField[], budget: number): { fields: DiscordEmbed['fields']; omitted: number } {
  const out: DiscordEmbed['fields'] = [];
  let left = budget;
  for (const f of fields) {
    if (out.length === DISCORD_LIMITS.fields) break;
    const name = md(f.title, DISCORD_LIMITS.fieldName);
    const room = Math.min(DISCORD_LIMITS.fieldValue, left - name.length);
    const whole = escapeDiscordMarkdown(f.value).length;
    if (room < 1 || (whole > room && room < 100)) break;
    const value = md(f.value, room);
    out.push({ name, value, inline: f.value.length < INLINE_BELOW });
    left -= name.length + value.length;
  }
  return { fields: out, omitted: fields.length - out.length };
}

interface EmbedContent {
  title: string;
  description: string;
  fields: ChatField[];
  footer: string[];
  priority: Priority;
  timestamp?: string;
}

function embedOf(c: EmbedContent): DiscordEmbed {
  const title = md(c.title, DISCORD_LIMITS.title);
  const descriptionMax = Math.min(DISCORD_LIMITS.description, DISCORD_LIMITS.embedTotal - title.length - FOOTER_BUDGET - 1000);
  const description = c.description === '' ? '' : md(c.description, descriptionMax);
  const { fields, omitted } = fitFields(c.fields, DISCORD_LIMITS.embedTotal - title.length - description.length - FOOTER_BUDGET);
  const footer = [...c.footer];
  if (description.length < escapeDiscordMarkdown(c.description).length) footer.push('output truncated');
  if (omitted > 0) footer.push(`${omitted} more fields not shown`);
  return {
    title,
    ...(description !== '' ? { description } : {}),
    color: DISCORD_COLORS[c.priority],
    ...(c.timestamp ? { timestamp: c.timestamp } : {}),
    fields,
    footer: { text: truncate(footer.join(' · '), FOOTER_BUDGET) },
  };
}

/** Discord's timestamp is ISO 8601; Falco's nanoseconds are cut to milliseconds. */
function isoTime(time: string): string | undefined {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * One webhook message per alert: one embed coloured by priority (title, the output as
 * description, the alert's fields), `allowed_mentions: {parse: []}` so no text of the alert can
 * ping, and the configured mentions (if any) as `content`.
 */
export function buildDiscordMessage(alert: Alert, opts: DiscordPayloadOptions): DiscordMessage {
  const digest = digestOf(alert);
  const content: EmbedContent = digest
    ? digestContent(alert, digest)
    : {
        title: renderTitle(opts, alert),
        description: renderMessage(opts, alert),
        fields: alertChatFields(alert),
        footer: [`id ${alert.id}`],
        priority: alert.priority,
        timestamp: isoTime(alert.time),
      };
  const embed = embedOf(content);
  const { content: text, allowed } = discordMentions(opts.mentions);
  const message: DiscordMessage = { embeds: [embed], allowed_mentions: allowed };
  if (text !== undefined) message.content = text;
  if (opts.username) message.username = opts.username;
  if (opts.avatarUrl) message.avatar_url = opts.avatarUrl;
  return message;
}

/** A digest embed: the summary as title, why and an example as description, where from as fields. */
function digestContent(alert: Alert, info: DigestInfo): EmbedContent {
  const description = digestText(info, '\n');
  return {
    title: digestSummary(alert, info),
    description,
    fields: digestChatFields(alert, info, { withRule: true }),
    footer: [`digest ${alert.id}`, `${info.suppressed} alerts`],
    priority: alert.priority,
    timestamp: isoTime(info.lastTime),
  };
}
