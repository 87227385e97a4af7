import { describe, expect, it } from 'vitest';
import { CaptureServer, type CapturedRequest, type ScriptedResponse } from '../helpers/capture-server.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { useRig } from '../helpers/rig.js';
import { deadLetters } from '../helpers/dlq.js';

const rig = useRig();
let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;

const lossless = (text: string) => JSON.parse(text.replace(/:(\d{16,})/g, ':"$1"')) as Record<string, unknown>;

/** Reads a bulk body as Elasticsearch does, checking the framing on the way. */
function parseBulk(req: CapturedRequest): Array<{ id: string; index: string; doc: Record<string, unknown> }> {
  expect(req.body.endsWith('\n')).toBe(true);
  const lines = req.body.slice(0, -1).split('\n');
  expect(lines.length % 2).toBe(0);
  const docs = [];
  for (let i = 0; i < lines.length; i += 2) {
    const action = JSON.parse(lines[i]!) as { create?: { _index: string; _id: string } };
    expect(Object.keys(action)).toEqual(['create']);
    docs.push({ id: action.create!._id, index: action.create!._index, doc: lossless(lines[i + 1]!) });
  }
  return docs;
}

// Position in the first bulk → item status the "cluster" answers with.
const FIRST_ANSWER: Record<number, { status: number; error?: { type: string; reason: string } }> = {
  1: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' } },
  2: { status: 400, error: { type: 'document_parsing_exception', reason: '[1:240] failed to parse field [output_fields.proc.tty]' } },
  4: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'rejected execution of coordinating operation' } },
  5: { status: 400, error: { type: 'mapper_parsing_exception', reason: 'object mapping for [output_fields.evt] tried to parse field as object' } },
};

function answer(req: CapturedRequest, first: boolean): ScriptedResponse {
  const docs = parseBulk(req);
  const items = docs.map((d, i) => ({ create: { _index: d.index, _id: d.id, ...(first ? (FIRST_ANSWER[i] ?? { status: 201 }) : { status: 201 }) } }));
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ took: 3, errors: first, items }) };
}

describe('elasticsearch bulk with partial failure', () => {
  it('retries only the 429 items, dead-letters the 400 items with their error, resends nothing else', async () => {
    capture = await rig.capture();
    capture.respondWith((req) => answer(req, true));
    capture.fallback = (req) => answer(req, false);
    pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          es: {
            type: 'elasticsearch',
            url: `${capture.url}/`,
            apiKey: 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==',
            batch: { size: 6, interval: '5s' },
            retry: { attempts: 5, backoff: '20ms', maxBackoff: '100ms' },
          },
        },
        routes: [{ outputs: ['es'] }],
      }),
    );
    const lines = fixtureAlertLines().slice(20, 26);
    expect((await pipeline.post(lines.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(() => capture!.requests.length >= 2, { what: 'the retry bulk' });
    const queue = pipeline.queue('es');
    await waitFor(async () => (await queue.getCompletedCount()) >= 1, { what: 'the retried job to complete' });

    const first = capture.requests[0]!;
    expect(first.path).toBe('/_bulk');
    expect(first.headers['content-type']).toBe('application/x-ndjson');
    expect(first.headers.authorization).toBe('ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==');
    const firstDocs = parseBulk(first);
    expect(firstDocs).toHaveLength(6);
    for (const [i, d] of firstDocs.entries()) {
      expect(d.doc.id).toBe(d.id);
      expect(d.doc['@timestamp']).toBe((JSON.parse(lines[i]!) as { time: string }).time);
      expect(d.index).toBe('falco-2025.06.12');
    }
    expect(first.body).toContain(`"evt.time":${/"evt\.time":(\d+)/.exec(lines[0]!)![1]}`);

    const ids = firstDocs.map((d) => d.id);
    expect(capture.requests).toHaveLength(2);
    expect(parseBulk(capture.requests[1]!).map((d) => d.id)).toEqual([ids[1], ids[4]]);

    const sent = new Map<string, number>();
    for (const req of capture.requests) for (const d of parseBulk(req)) sent.set(d.id, (sent.get(d.id) ?? 0) + 1);
    expect(Object.fromEntries(sent)).toEqual({ [ids[0]!]: 1, [ids[1]!]: 2, [ids[2]!]: 1, [ids[3]!]: 1, [ids[4]!]: 2, [ids[5]!]: 1 });

    // Each rejected item is its own dead letter with its own reason; nothing is left in BullMQ's failed set.
    expect((await queue.getJobCounts('failed')).failed).toBe(0);
    const letters = await deadLetters(pipeline.config).list('es');
    expect(letters.map((l) => lossless(l.alert).id).sort()).toEqual([ids[2], ids[5]].sort());
    expect(Object.fromEntries(letters.map((l) => [l.id, l.reason]))).toEqual({
      [ids[2]!]: 'document_parsing_exception: [1:240] failed to parse field [output_fields.proc.tty]',
      [ids[5]!]: 'mapper_parsing_exception: object mapping for [output_fields.evt] tried to parse field as object',
    });
    expect(letters.every((l) => l.attempts === 1 && l.output === 'es')).toBe(true);

    // Each alert counted once per send under one status, each send timed once (2 sends).
    const metrics = await (await fetch(`${pipeline.collector.url}/metrics`)).text();
    const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}.]/g, '\\$&')} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    // Summed over the failure reason.
    const deliveries = (status: string) =>
      [...metrics.matchAll(new RegExp(`^falconet_deliveries_total\\{output="es",status="${status}",reason="[a-z_]+"\\} (\\d+)$`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    expect({
      ok: deliveries('ok'),
      rejected: deliveries('rejected'),
      retry: deliveries('retry'),
      failed: deliveries('failed'),
      sends: value('falconet_delivery_duration_seconds_count{output="es"}'),
    }).toEqual({ ok: 4, rejected: 2, retry: 2, failed: 0, sends: 2 });
  });
});
