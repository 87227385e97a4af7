import { describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest } from '../helpers/capture-server.js';
import { jsonDocuments } from '../helpers/json-sequence.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';
import { deadLetters } from '../helpers/dlq.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

interface HecEvent {
  time: number;
  host?: string;
  source: string;
  sourcetype: string;
  index?: string;
  fields: Record<string, string>;
  event: { id: string; rule: string; time: string };
}

/**
 * Reads a HEC body as Splunk does: JSON objects back to back. A streaming scan over the text (not a
 * split on newlines) so that the test does not depend on the separator we chose.
 */
function parseConcatenated(body: string): Array<{ raw: string; event: HecEvent }> {
  return jsonDocuments(body).map((raw) => ({ raw, event: JSON.parse(raw.replace(/:(\d{16,})/g, ':"$1"')) as HecEvent }));
}

const events = (req: CapturedRequest) => parseConcatenated(req.body);

function hecConfig(url: string, batchSize: number) {
  return testConfig({
    dedup: { window: 0 },
    outputs: {
      hec: {
        type: 'splunk',
        url,
        token: 'a1b2c3d4-hec-token',
        index: 'falco',
        batch: { size: batchSize, interval: '5s' },
        retry: { attempts: 5, backoff: '20ms', maxBackoff: '100ms' },
      },
    },
    routes: [{ outputs: ['hec'] }],
  });
}

describe('splunk HEC through the pipeline', () => {
  it('sends concatenated event envelopes with the token, Falco time and indexed fields', async () => {
    capture = await rig.capture();
    capture.fallback = { status: 200, body: '{"text":"Success","code":0}' };
    pipeline = await rig.pipeline(hecConfig(capture.url, 4));
    const lines = fixtureAlertLines().slice(5, 9);
    expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 1, { what: 'the HEC request' });

    expect(capture.requests).toHaveLength(1);
    const req = capture.requests[0]!;
    expect(req.path).toBe('/services/collector/event');
    expect(req.headers.authorization).toBe('Splunk a1b2c3d4-hec-token');
    const got = events(req);
    expect(got.map((e) => e.event.event.rule)).toEqual(lines.map((l) => (JSON.parse(l) as { rule: string }).rule));
    for (const [i, { raw, event }] of got.entries()) {
      const sent = JSON.parse(lines[i]!) as { time: string; hostname: string; source: string; output_fields: Record<string, unknown> };
      const [secs, frac] = sent.time.replace(/Z$/, '').split('.');
      // The literal as written: whole seconds from the RFC 3339 time, all nine fraction digits.
      expect(raw.startsWith(`{"time":${Date.parse(`${secs}Z`) / 1000}.${frac},`)).toBe(true);
      expect(event).toMatchObject({ host: sent.hostname, source: 'falco', sourcetype: 'falco', index: 'falco' });
      expect(event.fields.alert_id).toBe(event.event.id);
      expect(event.fields.falco_source).toBe(sent.source);
      expect(event.fields.namespace).toBe(sent.output_fields['k8s.ns.name'] ?? sent.output_fields['ka.target.namespace']);
      expect(raw).toContain(`"evt.time":${/"evt\.time":(\d+)/.exec(lines[i]!)![1]}`);
    }
  });

  it('400 invalid-event-number: earlier events kept, the bad one dead-lettered, later ones resent', async () => {
    capture = await rig.capture();
    capture.respondWith({ status: 400, body: '{"text":"Invalid data format","code":6,"invalid-event-number":1}' });
    capture.fallback = { status: 200, body: '{"text":"Success","code":0}' };
    pipeline = await rig.pipeline(hecConfig(capture.url, 4));
    const lines = fixtureAlertLines().slice(10, 14);
    expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 2, { what: 'the resend' });

    const first = events(capture.requests[0]!).map((e) => e.event.event.id);
    expect(first).toHaveLength(4);
    const queue = pipeline.queue('hec');
    const dlq = deadLetters(pipeline.config);
    const letters = await waitFor(async () => ((await dlq.list('hec')).length > 0 ? await dlq.list('hec') : undefined), { what: 'dead letter' });
    expect(letters).toHaveLength(1);
    expect(letters[0]!.reason).toBe('Splunk HEC: Invalid data format (code 6)');
    expect(letters[0]!.id).toBe(first[1]);
    expect((JSON.parse(letters[0]!.alert.replace(/:(\d{16,})/g, ':"$1"')) as { id: string }).id).toBe(first[1]);
    expect(events(capture.requests[1]!).map((e) => e.event.event.id)).toEqual(first.slice(2));
    await waitFor(async () => (await queue.getCompletedCount()) >= 1, { what: 'the retried job to complete' });
    expect(capture.requests).toHaveLength(2);
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
  });
});
