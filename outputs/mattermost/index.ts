import { z } from 'zod';
import { defineOutput } from '../kit/define.js';
import { httpClientFor } from '../kit/http-client.js';
import { chatOptions, httpTransportOptions, httpUrl, mentionOptions, mentionProblems } from '../kit/options.js';
import { buildMattermostMessage } from './payload.js';

/** A Mattermost @-mention: `@channel`, `@here`, `@all`, a username or a group name. */
export const MATTERMOST_MENTION = /^@[a-z0-9._-]+$/i;

const options = {
  /** Incoming webhook URL (`https://<server>/hooks/<key>`): the key in the path is the credential. */
  webhookUrl: httpUrl,
  ...httpTransportOptions,
  ...chatOptions,
  ...mentionOptions,
  /** Another channel than the webhook's (`town-square`, `@user` for a direct message), if the hook allows it. */
  channel: z.string().min(1).optional(),
  /** Honoured when the server enables "integrations to override usernames" / "profile picture icons". */
  username: z.string().min(1).optional(),
  iconUrl: httpUrl.optional(),
};

export const mattermostOutput = defineOutput({
  type: 'mattermost',
  summary: 'Mattermost incoming webhook: one post per alert, Slack-compatible attachment coloured by priority',
  transport: 'http',
  options,
  batching: 'single',
  // Mattermost's own API rate limiting, when an admin enables it, defaults to 10 per second.
  defaultRateLimit: { max: 10, per: 1000 },
  defaultOverflow: 'digest',
  secretKeys: ['webhookUrl', 'headers'],
  example: ({ url }) => ({ type: 'mattermost', webhookUrl: `${url}/hooks/s3cr3tm4ttermostHookKey0123` }),
  check(config) {
    return mentionProblems(config.mentions, MATTERMOST_MENTION, 'does not notify in Mattermost; use @channel, @here, @all, @username or @group');
  },
  create(config) {
    const http = httpClientFor(config);
    return {
      async send(alerts, { signal }) {
        // 200 `ok`; the shared classifier handles the rest (429 with Retry-After when rate limiting is on).
        for (const alert of alerts) await http.send({ url: config.webhookUrl, body: JSON.stringify(buildMattermostMessage(alert, config)), signal });
      },
      close: () => http.close(),
    };
  },
});
