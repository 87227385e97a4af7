import { afterEach, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { CaptureServer } from '../helpers/capture-server.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { startPipeline, testConfig, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';

const ALERTS = 20_000;
const BATCH = 100;
const SENDERS = 48;

let pipeline: Pipeline | undefined;
let capture: CaptureServer | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  await pipeline?.stop();
  await capture?.stop();
  await agent?.close();
  pipeline = capture = agent = undefined;
});

/** Distinct alerts: the same Falco event with a sequence number in an output field. */
function burstAlert(template: Record<string, unknown>, seq: number): string {
  const fields = template.output_fields as Record<string, unknown>;
  return JSON.stringify({ ...template, output: `${template.output as string} seq=${seq}`, output_fields: { ...fields, 'burst.seq': seq } });
}

describe('burst into a batched webhook', () => {
  it(`${ALERTS} alerts from ${SENDERS} keep-alive senders arrive once each, in full batches`, async () => {
    capture = await new CaptureServer().start();
    pipeline = await startPipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { bulk: { type: 'webhook', url: `${capture.url}/bulk`, batch: { size: BATCH, interval: '1s' } } },
        routes: [{ outputs: ['bulk'] }],
      }),
    );
    const template = JSON.parse(fixtureAlertLines()[3]!) as Record<string, unknown>;
    agent = new Agent({ connections: SENDERS, keepAliveTimeout: 30_000 });
    const url = pipeline.collector.url;
    let next = 0;
    const started = Date.now();

    // Like Falco nodes: each sender posts one alert per request and waits for the answer.
    const sender = async (): Promise<void> => {
      for (let seq = next++; seq < ALERTS; seq = next++) {
        // undici.request rather than fetch: the senders share the CPU with the pipeline under test.
        const res = await request(url, { method: 'POST', body: burstAlert(template, seq), headers: falcoHeaders(), dispatcher: agent });
        await res.body.dump();
        if (res.statusCode !== 200) throw new Error(`collector answered ${res.statusCode} for alert ${seq}`);
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, sender));
    const posted = Date.now();

    const received = (): number => capture!.requests.reduce((n, r) => n + (r.body.length > 2 ? (JSON.parse(r.body) as unknown[]).length : 0), 0);
    await waitFor(() => received() >= ALERTS, { timeoutMs: 90_000, intervalMs: 200, what: `all ${ALERTS} alerts at the receiver` });
    const delivered = Date.now();

    const counts = new Map<string, number>();
    for (const req of capture.requests) {
      for (const alert of JSON.parse(req.body) as Array<{ id: string }>) counts.set(alert.id, (counts.get(alert.id) ?? 0) + 1);
    }
    expect(counts.size).toBe(ALERTS);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(capture.requests.length).toBeLessThanOrEqual(Math.ceil((ALERTS / BATCH) * 1.1));
    // Figures for the report, not assertions: timing depends on the machine.
    console.log(
      `burst: ${ALERTS} alerts, ${capture.requests.length} requests, posted in ${posted - started} ms, all delivered after ${delivered - started} ms`,
    );
    // Generous bound: ~30 s on this 2-core machine when idle, up to ~60 s while other suites run.
  }, 120_000);
});
