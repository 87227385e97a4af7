import { afterEach, describe, expect, it } from 'vitest';
import { parseJson } from '../../src/alert/json.js';
import { CaptureServer } from '../helpers/capture-server.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

let pipeline: Pipeline | undefined;
const servers: CaptureServer[] = [];
afterEach(async () => {
  await pipeline?.stop();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  pipeline = undefined;
});

describe('enrichment through the running pipeline', () => {
  it('global customFields/customTags/templatedFields reach every output, a route\'s fields its alerts, an output\'s fields that output only', async () => {
    const siem = await new CaptureServer().start();
    const chat = await new CaptureServer().start();
    servers.push(siem, chat);
    pipeline = await startPipeline(
      testConfig({
        customFields: { cluster: 'prod-eu-1' },
        customTags: ['prod'],
        templatedFields: { where: '{{output_fields.cluster}}/{{output_fields.k8s.ns.name}}' },
        outputs: {
          siem: { type: 'webhook', url: `${siem.url}/siem`, customFields: { siem_index: 'falco-prod' } },
          chat: { type: 'webhook', url: `${chat.url}/chat` },
        },
        routes: [
          { match: { 'output_fields.k8s.ns.name': 'team1' }, outputs: ['chat'], customFields: { owner: 'team1' }, continue: true },
          { outputs: ['siem'] },
        ],
      }),
    );
    const team1 = fixtureAlertLines()[8]!; // namespace team1
    expect((await pipeline.post(team1)).status).toBe(200);
    await waitFor(() => siem.requests.length >= 1 && chat.requests.length >= 1, { what: 'both deliveries' });
    const fields = (c: CaptureServer) => (parseJson(c.requests[0]!.body) as { output_fields: Record<string, unknown> }).output_fields;
    const tags = (c: CaptureServer) => (parseJson(c.requests[0]!.body) as { tags: string[] }).tags;
    expect(fields(chat)).toMatchObject({ cluster: 'prod-eu-1', where: 'prod-eu-1/team1', owner: 'team1' });
    expect(fields(chat).siem_index).toBeUndefined();
    expect(fields(siem)).toMatchObject({ cluster: 'prod-eu-1', where: 'prod-eu-1/team1', owner: 'team1', siem_index: 'falco-prod' });
    expect(tags(siem)).toContain('prod');
  });
});
