import type { Alert } from '../../src/alert/alert.js';
import type { Priority } from '../../src/alert/priority.js';
import { alertChatFields, digestChatFields, truncate, type ChatField } from '../kit/chat-fields.js';
import { renderMessage, renderTitle } from '../kit/template.js';
import { digestOf, digestSummary, digestText, type DigestInfo } from '../../src/alert/digest.js';

/**
 * Teams rejects messages above 28 KB, and only in the flow's run history (the caller still gets
 * 202): the whole serialised body is kept under this budget, with room for the envelope.
 */
export const TEAMS_MAX_BODY_BYTES = 25_000;

export type TeamsFormat = 'adaptive' | 'messagecard';

export interface TeamsPayloadOptions {
  format: TeamsFormat;
  title?: string;
  messageFormat?: string;
}

/** Adaptive Card TextBlock colours (outputs.md §0.2). */
export const ADAPTIVE_COLORS: Record<Priority, 'Attention' | 'Warning' | 'Accent' | 'Default'> = {
  Emergency: 'Attention',
  Alert: 'Attention',
  Critical: 'Attention',
  Error: 'Attention',
  Warning: 'Warning',
  Notice: 'Accent',
  Informational: 'Accent',
  Debug: 'Default',
};

/** falcosidekick's Teams palette (hex without `#`, as MessageCard wants it). */
export const MESSAGECARD_COLORS: Record<Priority, string> = {
  Emergency: 'e20b0b',
  Alert: 'ff5400',
  Critical: 'ff9000',
  Error: 'ffc700',
  Warning: 'ffff00',
  Notice: '5bffb5',
  Informational: '68c2ff',
  Debug: 'ccfff2',
};

/**
 * Successively tighter cuts. The first that fits the budget wins, so an ordinary alert is sent
 * whole and only a huge one loses detail; the last level fits whatever the input (500 characters
 * of output and 10 facts of 80 stay far below 25 KB even if every character needs a 6-byte
 * JSON escape).
 */
const SHRINK_LEVELS = [
  { output: 20_000, factValue: 2_000, facts: Number.POSITIVE_INFINITY },
  { output: 10_000, factValue: 500, facts: 60 },
  { output: 5_000, factValue: 200, facts: 30 },
  { output: 2_000, factValue: 120, facts: 15 },
  { output: 500, factValue: 80, facts: 10 },
] as const;

interface CardContent {
  title: string;
  output: string;
  facts: ChatField[];
  priority: Priority;
  time: string;
}

function shrink(content: CardContent, level: (typeof SHRINK_LEVELS)[number]): CardContent {
  const facts = content.facts.slice(0, level.facts).map((f) => ({ title: truncate(f.title, 100), value: truncate(f.value, level.factValue) }));
  const omitted = content.facts.length - facts.length;
  if (omitted > 0) facts.push({ title: '…', value: `${omitted} more fields not shown` });
  return { ...content, output: truncate(content.output, level.output), facts };
}

function adaptiveMessage(c: CardContent): object {
  const body: object[] = [
    { type: 'TextBlock', text: c.title, weight: 'Bolder', size: 'Medium', color: ADAPTIVE_COLORS[c.priority], wrap: true, style: 'heading' },
  ];
  if (c.output !== '') body.push({ type: 'TextBlock', text: c.output, wrap: true });
  body.push({ type: 'FactSet', facts: [...c.facts, { title: 'Time', value: c.time }] });
  return {
    type: 'message',
    attachments: [
      {
        contentType: 'application/vnd.microsoft.card.adaptive',
        contentUrl: null,
        content: {
          $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
          type: 'AdaptiveCard',
          version: '1.4',
          msteams: { width: 'Full' },
          body,
        },
      },
    ],
  };
}

function messageCard(c: CardContent): object {
  const section: Record<string, unknown> = {
    activityTitle: c.title,
    activitySubtitle: c.time,
    facts: c.facts.map((f) => ({ name: f.title, value: f.value })),
    // Falco output is attacker-influenced: shown as typed, not interpreted as markdown.
    markdown: false,
  };
  if (c.output !== '') section.text = c.output;
  return {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: c.title,
    themeColor: MESSAGECARD_COLORS[c.priority],
    title: c.title,
    sections: [section],
  };
}

/** The JSON body for one alert: a Workflows Adaptive Card message, or a legacy MessageCard. */
export function buildTeamsBody(alert: Alert, opts: TeamsPayloadOptions): string {
  const digest = digestOf(alert);
  const content: CardContent = digest
    ? digestContent(alert, digest)
    : {
        title: truncate(renderTitle(opts, alert), 200),
        output: renderMessage(opts, alert),
        facts: alertChatFields(alert),
        priority: alert.priority,
        time: alert.time,
      };
  const render = opts.format === 'messagecard' ? messageCard : adaptiveMessage;
  let body = '';
  for (const level of SHRINK_LEVELS) {
    body = JSON.stringify(render(shrink(content, level)));
    if (Buffer.byteLength(body) <= TEAMS_MAX_BODY_BYTES) break;
  }
  return body;
}

/** A digest card: the summary as title, why and an example as text, where from as facts. */
function digestContent(alert: Alert, info: DigestInfo): CardContent {
  const facts = digestChatFields(alert, info, { withRule: true });
  const text = digestText(info, '\n\n');
  return { title: truncate(digestSummary(alert, info), 200), output: text, facts, priority: alert.priority, time: info.lastTime };
}
