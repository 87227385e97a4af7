import { describe, expect, it } from 'vitest';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';

const ROUTING_KEY = 'e2eR0utingKey0123456789abcdefABC';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

interface PdEvent {
  routing_key: string;
  event_action: string;
  dedup_key: string;
  client: string;
  payload: { summary: string; source: string; severity: string; timestamp: string; component?: string; group?: string; class: string; custom_details: Record<string, unknown> };
}

describe('pagerduty through the pipeline', () => {
  it('delivers Events API v2 triggers; a repeated alert keeps its dedup_key', async () => {
    capture = await rig.capture();
    capture.fallback = { status: 202, body: '{"status":"success","message":"Event processed"}' };
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { pd: { type: 'pagerduty', routingKey: ROUTING_KEY, url: `${capture.url}/v2/enqueue` } },
        routes: [{ outputs: ['pd'] }],
      }),
    );
    const lines = fixtureAlertLines();
    const shell = lines[8]!; // Notice "Terminal shell in container" in team1/storefront-web
    const critical = lines[22]!; // Critical "Web Server Spawned Shell"
    // The same rule firing again a minute later in the same container. (Re-posting identical bytes
    // would not do: the alert id is a content hash and the delivery job id repeats it.)
    const repeat = shell.replace('"time":"2025-06-12T08:14:03.412907117Z"', '"time":"2025-06-12T08:15:03.412907117Z"').replace('1749716043412907117', '1749716103412907117');
    expect(repeat).not.toBe(shell);
    for (const line of [shell, critical, repeat]) expect((await pipeline.post(line, falcoHeaders())).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 3, { what: 'three PagerDuty events' });

    const events = capture.requests.map((r) => ({ path: r.path, event: JSON.parse(r.body) as PdEvent }));
    for (const { path, event } of events) {
      expect(path).toBe('/v2/enqueue');
      expect(event.routing_key).toBe(ROUTING_KEY);
      expect(event.event_action).toBe('trigger');
      expect(event.client).toBe('Falconet');
      expect(event.dedup_key).toMatch(/^falco:[0-9a-f]{40}$/);
    }
    const shells = events.filter((e) => e.event.payload.class === 'Terminal shell in container');
    const web = events.find((e) => e.event.payload.class === 'Web Server Spawned Shell')!;
    expect(shells).toHaveLength(2);
    expect(shells[0]!.event.dedup_key).toBe(shells[1]!.event.dedup_key);
    expect(web.event.dedup_key).not.toBe(shells[0]!.event.dedup_key);
    expect(web.event.payload.severity).toBe('critical');
    expect(shells.map((e) => e.event.payload.timestamp).sort()).toEqual(['2025-06-12T08:14:03.412Z', '2025-06-12T08:15:03.412Z']);
    const first = shells.find((e) => e.event.payload.timestamp === '2025-06-12T08:14:03.412Z')!;
    expect(first.event.payload).toMatchObject({
      summary: '[Notice] Terminal shell in container on ip-10-0-12-34.ec2.internal (team1/storefront-web-7c9d8f6b9-kx2lm)',
      source: 'ip-10-0-12-34.ec2.internal',
      severity: 'info',
      timestamp: '2025-06-12T08:14:03.412Z',
      component: 'ghcr.io/acme/storefront-web:2.14.1',
      group: 'team1',
    });
    expect(first.event.payload.custom_details).toMatchObject({ priority: 'Notice', falco_source: 'syscall', rule: 'Terminal shell in container' });
    // The int64 evt.time crosses Redis and reaches PagerDuty byte for byte.
    expect(capture.requests.some((r) => r.body.includes('"evt.time":1749716043412907117'))).toBe(true);
  });
});
