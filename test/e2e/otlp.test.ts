import { describe, expect, it } from 'vitest';
import { alertTimeNanos, type Alert } from '../../src/alert/alert.js';
import { deadLetters } from '../helpers/dlq.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';
import type { CaptureServer } from '../helpers/capture-server.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

interface Export {
  resourceLogs: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeLogs: Array<{ logRecords: Array<{ timeUnixNano: string; severityNumber: number; attributes: Array<{ key: string; value: Record<string, unknown> }> }> }> }>;
}
const records = (body: string) => (JSON.parse(body) as Export).resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords));
const json = { 'content-type': 'application/json' };

describe('otlp through the pipeline', () => {
  it('batches log records, waits out a 503 Retry-After, and dead-letters a batch the receiver rejected whole', async () => {
    capture = await rig.capture();
    capture.respondWith(
      { status: 503, headers: { ...json, 'retry-after': '1' }, body: JSON.stringify({ code: 14, message: 'data refused due to high memory usage' }) },
      { status: 200, headers: json, body: '{}' },
      { status: 200, headers: json, body: '{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"log records older than 7d"}}' },
    );
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { otel: { type: 'otlp', url: capture.url, headers: { authorization: 'Bearer e2e-otlp-token' }, batch: { size: 3, interval: '200ms' }, retry: { attempts: 5, backoff: '20ms' } } },
        routes: [{ outputs: ['otel'] }],
      }),
    );
    const lines = fixtureAlertLines();
    const first = lines.slice(20, 23);
    expect((await pipeline.post(first.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 2, { what: 'the batch, then its retry after Retry-After' });
    const [refused, delivered] = capture.requests;
    expect(delivered!.at - refused!.at).toBeGreaterThanOrEqual(900);
    // The same records again; only observedTimeUnixNano (when it was sent) moves.
    const withoutObserved = (body: string) => body.replace(/"observedTimeUnixNano":"\d+"/g, '');
    expect(withoutObserved(delivered!.body)).toBe(withoutObserved(refused!.body));
    expect(delivered!.path).toBe('/v1/logs');
    expect(delivered!.headers.authorization).toBe('Bearer e2e-otlp-token');
    const sent = records(delivered!.body);
    expect(sent).toHaveLength(3);
    // Falco's nanosecond time and int64 fields crossed Redis exactly.
    const times = first.map((l) => alertTimeNanos({ time: /"time":"([^"]+)"/.exec(l)![1]! } as Alert).toString());
    const evtTimes = first.map((l) => /"evt\.time":(\d+)/.exec(l)![1]!);
    expect(sent.map((r) => r.attributes.find((a) => a.key === 'evt.time')!.value).sort()).toEqual(evtTimes.map((t) => ({ intValue: t })).sort());
    expect(sent.map((r) => r.timeUnixNano).sort()).toEqual(times.sort());

    const second = lines.slice(23, 26);
    expect((await pipeline.post(second.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    const store = deadLetters(pipeline.config);
    await waitFor(async () => (await store.list('otel')).length >= 3, { what: 'the rejected batch in the dead letters' });
    const letters = await store.list('otel');
    expect(letters).toHaveLength(3);
    expect(letters.every((l) => l.reason === 'OTLP receiver rejected the log records: log records older than 7d' && l.attempts === 1)).toBe(true);
    expect(capture.requests).toHaveLength(3);
  });
});
