import { z } from 'zod';
import { classifyHttpStatus, parseRetryAfter } from '../kit/classify.js';
import { defineOutput } from '../kit/define.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import { httpClientFor, type HttpResponse } from '../kit/http-client.js';
import { chatOptions, httpTransportOptions, httpUrl, mentionOptions, mentionProblems } from '../kit/options.js';
import { apiUrl } from '../kit/url.js';
import { redactUrl } from '../kit/redact.js';
import { buildWebexMessage, WEBEX_MESSAGES_PATH } from './payload.js';

/** Webex mention syntax in markdown. */
export const WEBEX_MENTION = /^<@(all|personEmail:[^\s<>]+|personId:[^\s<>|]+(\|[^<>]+)?)>$/;

const options = {
  /** A bot's (or integration's) access token, sent as `Authorization: Bearer`. A secret. */
  token: z.string().min(1),
  /** The space to post to (the bot must be a member). Exactly one of `roomId`, `toPersonEmail`. */
  roomId: z.string().min(1).optional(),
  /** A 1:1 message to this person instead of a space. */
  toPersonEmail: z.email().optional(),
  /** API base URL; `/v1/messages` is appended unless present (a proxy, FedRAMP, tests). */
  url: httpUrl.default('https://webexapis.com'),
  ...httpTransportOptions,
  ...chatOptions,
  ...mentionOptions,
};

/**
 * The shared classifier; Webex also answers 423 Locked (the resource is busy) with a Retry-After,
 * which is retried and honoured like a 429's.
 */
export function classifyWebexResponse(res: HttpResponse, target: string): void {
  try {
    classifyHttpStatus(res.status, res.headers, res.body, target, { retryOn: [423] });
  } catch (err) {
    if (!isDeliveryError(err) || res.status !== 423) throw err;
    const value = res.headers['retry-after'];
    const retryAfterMs = parseRetryAfter(Array.isArray(value) ? value[0] : value);
    throw new DeliveryError(err.message, { retryable: true, reason: 'rate_limited', status: 423, retryAfterMs });
  }
}

export const webexOutput = defineOutput({
  type: 'webex',
  summary: 'Webex messages API (bot token): one markdown message per alert to a space or a person',
  transport: 'http',
  apiPath: WEBEX_MESSAGES_PATH,
  options,
  batching: 'single',
  // Webex publishes no number for messages; its 429 carries Retry-After. One per second keeps a space readable.
  defaultRateLimit: { max: 1, per: 1000 },
  defaultOverflow: 'digest',
  secretKeys: ['token', 'headers'],
  example: ({ url }) => ({
    type: 'webex',
    url,
    token: 's3cr3tWebexBotToken0123456789abcdefABCDEF_PF84_1eb65fdf',
    roomId: 'Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0',
  }),
  check(config) {
    const problems: Array<{ key: string; message: string }> = [];
    if ((config.roomId === undefined) === (config.toPersonEmail === undefined)) {
      problems.push({ key: 'roomId', message: 'set exactly one of roomId (a space) and toPersonEmail (a person)' });
    }
    problems.push(...mentionProblems(config.mentions, WEBEX_MENTION, 'does not notify in Webex; use <@all>, <@personEmail:someone@example.com> or <@personId:…>'));
    return problems;
  },
  create(config) {
    const http = httpClientFor(config);
    const url = apiUrl(config.url, WEBEX_MESSAGES_PATH);
    const target = redactUrl(url);
    const headers = { authorization: `Bearer ${config.token}` };
    return {
      async send(alerts, { signal }) {
        for (const alert of alerts) {
          // 200 with the created message.
          const res = await http.request({ url, headers, body: JSON.stringify(buildWebexMessage(alert, config)), signal });
          classifyWebexResponse(res, target);
        }
      },
      close: () => http.close(),
    };
  },
});
