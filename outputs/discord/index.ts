import { z } from 'zod';
import { classifyHttpStatus } from '../kit/classify.js';
import { defineOutput } from '../kit/define.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import { httpClientFor, type HttpResponse } from '../kit/http-client.js';
import { chatOptions, httpTransportOptions, httpUrl, mentionOptions, mentionProblems } from '../kit/options.js';
import { redactUrl } from '../kit/redact.js';
import { buildDiscordMessage, DISCORD_MENTION } from './payload.js';

const options = {
  /** `https://discord.com/api/webhooks/<id>/<token>`: the token in the path is the credential. */
  webhookUrl: httpUrl,
  ...httpTransportOptions,
  ...chatOptions,
  ...mentionOptions,
  /** Overrides the webhook's name and avatar for these messages. */
  username: z.string().min(1).max(80).optional(),
  avatarUrl: httpUrl.optional(),
  /** Post into this thread of the webhook's channel (a forum post, say): `?thread_id=`. */
  threadId: z.string().regex(/^\d{1,20}$/, 'a Discord snowflake (digits)').optional(),
};

/** The URL posted to: `?wait=true`, so Discord answers 200 with the message once it is created. */
export function discordPostUrl(config: { webhookUrl: string; threadId?: string }): string {
  const url = new URL(config.webhookUrl);
  url.searchParams.set('wait', 'true');
  if (config.threadId) url.searchParams.set('thread_id', config.threadId);
  return url.toString();
}

function seconds(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n * 1000) : undefined;
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The shared classifier, with Discord's rate-limit answer read precisely: a 429's JSON body
 * `{retry_after: <seconds, float>, global}` is the authority (Retry-After is rounded up to whole
 * seconds), then X-RateLimit-Reset-After, then Retry-After (also as an HTTP-date, by the classifier).
 */
export function classifyDiscordResponse(res: HttpResponse, target: string): void {
  try {
    classifyHttpStatus(res.status, res.headers, res.body, target);
  } catch (err) {
    if (!isDeliveryError(err) || res.status !== 429) throw err;
    let body: { retry_after?: unknown; global?: unknown } = {};
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      // Cloudflare's own 429 is HTML: the headers decide.
    }
    const retryAfterMs = seconds(body?.retry_after) ?? seconds(header(res, 'x-ratelimit-reset-after')) ?? err.retryAfterMs;
    const scope = body?.global === true ? 'global' : (header(res, 'x-ratelimit-scope') ?? 'webhook');
    const after = retryAfterMs === undefined ? '' : `, retry after ${retryAfterMs} ms`;
    throw new DeliveryError(`${target} answered HTTP 429: rate limited (${scope})${after}`, { retryable: true, reason: 'rate_limited', status: 429, retryAfterMs });
  }
}

export const discordOutput = defineOutput({
  type: 'discord',
  summary: 'Discord webhook: one embed per alert, integer colour by priority, no pings from alert text',
  transport: 'http',
  options,
  batching: 'single',
  // About 5 requests per 2 s per webhook and 30 messages per minute per channel (outputs.md §6.2):
  // one per 2 s keeps under both; 429 answers carry the exact wait anyway.
  defaultRateLimit: { max: 1, per: 2000 },
  defaultOverflow: 'digest',
  secretKeys: ['webhookUrl', 'headers'],
  example: ({ url }) => ({ type: 'discord', webhookUrl: `${url}/api/webhooks/112233445566778899/s3cr3tDiscordWebhookToken0123` }),
  check(config) {
    return mentionProblems(config.mentions, DISCORD_MENTION, 'does not ping in Discord; use <@user-id>, <@&role-id>, @everyone or @here');
  },
  create(config) {
    const http = httpClientFor(config);
    const url = discordPostUrl(config);
    const target = redactUrl(config.webhookUrl);
    return {
      async send(alerts, { signal }) {
        for (const alert of alerts) {
          const res = await http.request({ url, body: JSON.stringify(buildDiscordMessage(alert, config)), signal });
          classifyDiscordResponse(res, target);
        }
      },
      close: () => http.close(),
    };
  },
});
