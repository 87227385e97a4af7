import { z } from 'zod';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { chatOptions, httpTransportOptions, httpUrl, mentionOptions } from '../kit/options.js';
import { buildSlackMessage } from './payload.js';
import { postSlackMessage } from './transport.js';

const options = {
  /** Incoming webhook URL (https://hooks.slack.com/services/…): the URL is the credential. */
  webhookUrl: httpUrl,
  ...httpTransportOptions,
  ...chatOptions,
  ...mentionOptions,
  /** `all`: output text and fields; `text`: output text only; `fields`: fields only. */
  outputFormat: z.enum(['all', 'text', 'fields']).default('all'),
  /** Honoured by legacy webhooks only; app webhooks post to their own channel. */
  channel: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
};

export const slackOutput = defineOutput({
  type: 'slack',
  summary: 'Slack incoming webhook: one message per alert, coloured by priority, Block Kit fields',
  transport: 'http',
  options,
  batching: 'single',
  // Slack: 1 message per second per webhook; it answers 429 + Retry-After above that.
  defaultRateLimit: { max: 1, per: 1000 },
  defaultOverflow: 'digest',
  secretKeys: ['webhookUrl', 'headers'],
  example: ({ url }) => ({ type: 'slack', webhookUrl: `${url}/services/T0000/B0000/s3cr3tSlackPathToken` }),
  create(config) {
    const http = httpClientFor(config);
    return {
      async send(alerts, { signal }) {
        for (const alert of alerts) await postSlackMessage(http, config.webhookUrl, buildSlackMessage(alert, config), signal);
      },
      close: () => http.close(),
    };
  },
});
