import { z } from 'zod';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { chatOptions, httpTransportOptions, httpUrl, mentionOptions, mentionProblems, mustacheTemplate } from '../kit/options.js';
import { buildGoogleChatMessage } from './payload.js';

/** The mention syntax of Chat messages: `<users/all>` or `<users/USER_ID>`. */
export const GOOGLECHAT_MENTION = /^<users\/[^\s<>]+>$/;

const options = {
  /** Space webhook `https://chat.googleapis.com/v1/spaces/<SPACE>/messages?key=…&token=…`: the query is the credential. */
  webhookUrl: httpUrl,
  ...httpTransportOptions,
  ...chatOptions,
  ...mentionOptions,
  /** Mustache template naming the thread an alert goes to; default `{{rule}}` (one thread per rule). */
  threadKey: mustacheTemplate().optional(),
  /** `false`: every alert starts its own thread (no threadKey, no messageReplyOption). */
  threading: z.boolean().default(true),
};

/** The webhook URL with `messageReplyOption`, so a threadKey replies in its thread (or starts it). */
export function googleChatPostUrl(config: { webhookUrl: string; threading: boolean }): string {
  if (!config.threading) return config.webhookUrl;
  const url = new URL(config.webhookUrl);
  url.searchParams.set('messageReplyOption', 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
  return url.toString();
}

export const googlechatOutput = defineOutput({
  type: 'googlechat',
  summary: 'Google Chat space webhook: one cardsV2 card per alert, one thread per rule',
  transport: 'http',
  options,
  batching: 'single',
  // Google Chat's per-space write quota is about 1 message per second, shared by all its webhooks.
  defaultRateLimit: { max: 1, per: 1000 },
  defaultOverflow: 'digest',
  secretKeys: ['webhookUrl', 'headers'],
  example: ({ url }) => ({
    type: 'googlechat',
    webhookUrl: `${url}/v1/spaces/AAAAb3xq5Ko/messages?key=s3cr3tGoogleChatApiKey0123&token=s3cr3tGoogleChatToken4567`,
  }),
  check(config) {
    return mentionProblems(config.mentions, GOOGLECHAT_MENTION, 'does not notify in Google Chat; use <users/all> or <users/USER_ID>');
  },
  create(config) {
    const http = httpClientFor(config);
    const url = googleChatPostUrl(config);
    return {
      async send(alerts, { signal }) {
        for (const alert of alerts) {
          // 200 with the Message resource; 429 RESOURCE_EXHAUSTED (quota) retried by the shared classifier.
          await http.send({ url, headers: { 'content-type': 'application/json; charset=UTF-8' }, body: JSON.stringify(buildGoogleChatMessage(alert, config)), signal });
        }
      },
      close: () => http.close(),
    };
  },
});
