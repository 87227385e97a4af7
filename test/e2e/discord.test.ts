import { describe, expect, it } from 'vitest';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

const rig = useRig();
const lines = fixtureAlertLines();

interface SentMessage {
  content?: string;
  embeds: Array<{ title: string; description?: string; color: number }>;
  allowed_mentions: { parse: string[]; roles?: string[] };
}

describe('discord end to end', () => {
  it('a 429 pauses Discord for the body\'s retry_after (not the header\'s), and every alert arrives once without pinging', async () => {
    const discord = await rig.capture();
    // Discord's answer to a webhook over its limit: the exact wait in the JSON body; the header here
    // says 30 s, so a retry within a few seconds proves the body was read.
    discord.respondWith({
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '30', 'x-ratelimit-scope': 'user' },
      body: '{"message": "You are being rate limited.", "retry_after": 1.2, "global": false}',
    });
    discord.fallback = { status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":"1200000000000000000","type":0}' };
    const pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          discord: { type: 'discord', webhookUrl: `${discord.url}/api/webhooks/123/s3cr3tToken`, mentions: ['<@&424242>'], concurrency: 1, rateLimit: { max: 20, per: '1s' } },
        },
        routes: [{ outputs: ['discord'] }],
      }),
    );
    const pinging = JSON.stringify({ ...(JSON.parse(lines[8]!) as object), output: 'bash -c "echo @everyone @here"' });
    const sent = [lines[23]!, pinging];
    for (const line of sent) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);

    await waitFor(() => discord.requests.length >= sent.length + 1, { timeoutMs: 15_000, what: 'Discord deliveries after the pause' });
    await waitFor(async () => (await pipeline.queue('discord').getJobCounts('completed')).completed === sent.length, { what: 'Discord jobs completed' });
    const [limited, ...delivered] = discord.requests;
    expect(delivered).toHaveLength(sent.length);
    expect(delivered[0]!.at - limited!.at).toBeGreaterThanOrEqual(1_100);
    for (const req of discord.requests) expect(new URL(req.path, discord.url).searchParams.get('wait')).toBe('true');
    const messages = delivered.map((r) => JSON.parse(r.body) as SentMessage);
    expect(messages.map((m) => m.embeds[0]!.title).sort()).toEqual(['Critical: Drop and execute new binary in container', 'Notice: Terminal shell in container']);
    for (const m of messages) {
      expect(m.content).toBe('<@&424242>');
      expect(m.allowed_mentions).toEqual({ parse: [], roles: ['424242'] });
      expect(Number.isInteger(m.embeds[0]!.color)).toBe(true);
    }
    expect(messages.find((m) => m.embeds[0]!.description?.includes('@everyone'))?.embeds[0]!.description).toBe('bash -c "echo @everyone @here"');
  });
});
