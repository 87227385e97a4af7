import { Writable } from 'node:stream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { natsOutput } from '../../outputs/nats/index.js';
import { buildNatsMessage } from '../../outputs/nats/payload.js';
import { isDeliveryError, type DeliveryError } from '../../outputs/kit/errors.js';
import type { Output } from '../../outputs/kit/types.js';
import type { Alert } from '../../src/alert/alert.js';
import { alertId } from '../../src/collector/decode.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { testConfig } from '../helpers/harness.js';
import { NatsProbe, TestNats, type StoredNatsMessage } from '../helpers/nats-server.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The nats output against a real nats-server with JetStream, started by the test on its own port
 * and store dir: what a consumer of the stream reads, JetStream's dedup by Nats-Msg-Id, a broker
 * restart in the middle of a stream (nothing lost, nothing twice), core NATS, and the same restart
 * through the real pipeline (collector, Redis queue, worker).
 */

const logLines: string[] = [];
const logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, done) => (logLines.push(c.toString()), done()) }));

const lines = fixtureAlertLines();
/** Every fixture alert as the router hands it to outputs (id = content hash). */
const FIXTURES: Alert[] = normalise(lines.map((l) => [alertId(l), l] as const));

const server = new TestNats();
let probe: NatsProbe;
let streamNo = 0;
const outputs: Output[] = [];

function output(config: Record<string, unknown> = {}): Output {
  const instance = parseOutputInstance('nats-e2e', { type: 'nats', url: server.url, ...config }, natsOutput);
  const o = natsOutput.create(instance.config, { name: instance.name, logger });
  outputs.push(o);
  return o;
}

/** A fresh stream over its own subject prefix, so tests do not see each other's messages. */
async function freshStream(): Promise<{ stream: string; prefix: string }> {
  const n = ++streamNo;
  const stream = `FALCO${n}`;
  const prefix = `falco${n}`;
  await probe.createStream(stream, [`${prefix}.>`]);
  return { stream, prefix };
}

const headerOf = (m: StoredNatsMessage, name: string) => m.headers.find(([k]) => k === name)?.[1];
const signal = () => AbortSignal.timeout(15_000);

beforeAll(async () => {
  await server.start();
  probe = await NatsProbe.connect(server.url);
});

afterEach(async () => {
  await Promise.all(outputs.splice(0).map((o) => o.close?.()));
});

afterAll(async () => {
  await probe?.close();
  await server.destroy();
});

describe('nats output (JetStream) against nats-server', () => {
  it('a consumer reads every fixture alert: subject, headers and body exactly as built, batches published concurrently', async () => {
    const { stream, prefix } = await freshStream();
    const subject = `${prefix}.{priority}.{rule}`;
    const out = output({ subject, batch: { size: 10 } });
    expect(new Set(FIXTURES.map((a) => a.id)).size).toBe(FIXTURES.length);
    for (let i = 0; i < FIXTURES.length; i += 10) {
      await expect(out.send(FIXTURES.slice(i, i + 10), { signal: signal() })).resolves.toBeUndefined();
    }
    const stored = await probe.readAll(stream);
    expect(stored).toHaveLength(FIXTURES.length);
    const byId = new Map(stored.map((m) => [headerOf(m, 'Nats-Msg-Id'), m]));
    for (const alert of FIXTURES) {
      const expected = buildNatsMessage(alert, subject);
      const got = byId.get(alert.id);
      expect(got, alert.rule).toBeDefined();
      expect(got!.subject).toBe(expected.subject);
      expect(got!.subject).toMatch(new RegExp(`^${prefix}\\.[a-z]+\\.[a-z0-9_-]+$`));
      expect(got!.headers).toEqual(expected.headers);
      expect(got!.body).toBe(expected.body);
      // Byte for byte the line Falco sent, with Falconet's id added: big integers exact.
      expect(JSON.parse(got!.body.replace(/:(\d{16,})/g, ':"$1"'))).toMatchObject({ id: alert.id, rule: alert.rule, priority: alert.priority, time: alert.time });
    }
    const nanos = stored.find((m) => /"evt\.time":\d{19}/.test(m.body));
    expect(nanos, 'an alert with a nanosecond evt.time').toBeDefined();
  });

  it('a second publish of the same alert id is dropped by JetStream (PubAck duplicate) and counts as delivered', async () => {
    const { stream, prefix } = await freshStream();
    const out = output({ subject: `${prefix}.{rule}` });
    const alert = FIXTURES[8]!;
    await out.send([alert], { signal: signal() });
    expect(await probe.count(stream)).toBe(1);
    // The queue retries a job whose ack was lost: the stream must not store it again.
    const logged = logLines.length;
    await expect(out.send([alert], { signal: signal() })).resolves.toBeUndefined();
    await expect(out.send([{ ...alert }], { signal: signal() })).resolves.toBeUndefined();
    expect(await probe.count(stream)).toBe(1);
    expect(logLines.slice(logged).filter((l) => l.includes('duplicate dropped by JetStream'))).toHaveLength(2);
    // What the output saw, from the stream's side: the same Nats-Msg-Id acks as a duplicate of seq 1.
    const h = natsHeaders();
    h.set('Nats-Msg-Id', alert.id);
    const ack = await jetstream(probe.nc).publish(buildNatsMessage(alert, `${prefix}.{rule}`).subject, 'other body', { headers: h });
    expect(ack).toMatchObject({ stream, seq: 1, duplicate: true });
    const [only] = await probe.readAll(stream);
    expect(only!.body).toBe(buildNatsMessage(alert).body);
  });

  it('a nats-server restart in the middle of 200 alerts loses nothing: sends fail fast and retryably while it is down, every id is stored once', async () => {
    const { stream, prefix } = await freshStream();
    // A timeout far above what a failing send takes: a send that waited for the server would show.
    const out = output({ subject: `${prefix}.{priority}.{rule}`, timeout: '30s' });
    const alerts: Alert[] = Array.from({ length: 200 }, (_, i) => ({ ...FIXTURES[i % FIXTURES.length]!, id: `restart-${String(i).padStart(3, '0')}` }));
    const acked: Alert[] = [];
    const retry: Alert[] = [];
    const outageErrors: DeliveryError[] = [];
    const slowest = { ms: 0 };

    // Like the delivery queue: each alert is sent, a retryable failure puts it back for later.
    async function deliver(alert: Alert, duringOutage: boolean): Promise<void> {
      const started = Date.now();
      try {
        await out.send([alert], { signal: signal() });
        acked.push(alert);
      } catch (err) {
        expect(isDeliveryError(err), String(err)).toBe(true);
        expect((err as DeliveryError).retryable, (err as Error).message).toBe(true);
        if (duringOutage) {
          outageErrors.push(err as DeliveryError);
          slowest.ms = Math.max(slowest.ms, Date.now() - started);
        }
        retry.push(alert);
      }
    }

    // 80 go out with 4 in flight, the server stops with sends in flight, 60 more during the outage.
    const first = alerts.slice(0, 80);
    const inFlight = new Set<Promise<void>>();
    for (const [i, alert] of first.entries()) {
      const p = deliver(alert, false).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (i === 70) await server.stop();
      if (inFlight.size >= 4) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    expect(server.running).toBe(false);
    for (const alert of alerts.slice(80, 140)) await deliver(alert, true);
    expect(outageErrors).toHaveLength(60);
    expect(slowest.ms, 'a send while the server is down must fail at once, not wait for it').toBeLessThan(3_000);
    expect(outageErrors[0]!.message).toMatch(/not connected \(.*\); reconnecting/);
    expect(outageErrors.every((e) => e.reason === 'network')).toBe(true);

    await server.start();
    const ackedBeforeRestart = acked.length;
    await waitFor(async () => {
      const next = retry.shift();
      if (next) await deliver(next, false);
      return acked.length > ackedBeforeRestart;
    }, { what: 'the output to reconnect', timeoutMs: 20_000, intervalMs: 50 });
    for (const alert of alerts.slice(140)) await deliver(alert, false);
    // The queue's retries, until each alert has its ack.
    await waitFor(async () => {
      for (const alert of retry.splice(0)) await deliver(alert, false);
      return retry.length === 0;
    }, { what: 'every retried alert to be acked', timeoutMs: 20_000 });
    // Acks lost to the outage in real life: the queue sends again alerts the stream already holds.
    for (const alert of acked.slice(60, 70)) await out.send([alert], { signal: signal() });

    const stored = await probe.readAll(stream);
    const ids = stored.map((m) => headerOf(m, 'Nats-Msg-Id'));
    expect(new Set(ids).size).toBe(200);
    expect(ids.sort()).toEqual(alerts.map((a) => a.id).sort());
    expect(await probe.count(stream)).toBe(200);
    for (const m of stored) expect(JSON.parse(m.body.replace(/:(\d{16,})/g, ':"$1"')).id).toBe(headerOf(m, 'Nats-Msg-Id'));
  }, 90_000);

  it('core mode: plain publish and flush, the same subject, headers and body (no stream ack, at most once)', async () => {
    const { stream, prefix } = await freshStream();
    const out = output({ subject: `${prefix}.{priority}.{rule}`, mode: 'core', batch: { size: 5 } });
    const alerts = FIXTURES.slice(0, 5);
    // A core subscriber sees them live; the stream over the prefix stores them too (JetStream
    // captures core publishes, but the publisher gets no ack).
    const seen: Array<{ subject: string; id?: string; body: string }> = [];
    const sub = probe.nc.subscribe(`${prefix}.>`, { callback: (_err, m) => void seen.push({ subject: m.subject, id: m.headers?.get('Nats-Msg-Id'), body: m.string() }) });
    await probe.nc.flush();
    try {
      await expect(out.send(alerts, { signal: signal() })).resolves.toBeUndefined();
      await waitFor(() => seen.length === 5, { what: 'the core subscriber to get 5 messages' });
      for (const alert of alerts) {
        const expected = buildNatsMessage(alert, `${prefix}.{priority}.{rule}`);
        expect(seen.find((s) => s.id === alert.id)).toEqual({ subject: expected.subject, id: alert.id, body: expected.body });
      }
      await waitFor(async () => (await probe.count(stream)) === 5, { what: 'the stream to capture the core publishes' });
    } finally {
      sub.unsubscribe();
    }
  });
});

describe('nats output through the pipeline', () => {
  const rig = useRig();

  it('alerts posted while nats-server is down wait in the queue and arrive after the restart, each once', async () => {
    const { stream, prefix } = await freshStream();
    const pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          nats: {
            type: 'nats',
            url: server.url,
            subject: `${prefix}.{priority}.{rule}`,
            retry: { attempts: 100, backoff: '100ms', maxBackoff: '500ms' },
          },
        },
        routes: [{ outputs: ['nats'] }],
      }),
    );
    const before = lines.slice(0, 20);
    const during = lines.slice(20, 40);
    expect((await pipeline.post(before.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    await waitFor(async () => (await probe.count(stream)) === 20, { what: 'the first 20 in the stream' });

    await server.stop();
    expect((await pipeline.post(during.join('\n'), { 'content-type': 'application/x-ndjson' })).status).toBe(200);
    const queue = pipeline.queue('nats');
    // The worker tries, fails retryably, and the jobs wait (delayed) for the broker.
    await waitFor(async () => ((await queue.getJobCounts('delayed')).delayed ?? 0) > 0, { what: 'a delivery job waiting for the broker' });
    expect(await queue.getJobCounts('failed')).toEqual({ failed: 0 });

    await server.start();
    await waitFor(async () => (await probe.count(stream)) >= 40, { what: 'all 40 alerts in the stream', timeoutMs: 30_000 });
    const stored = await probe.readAll(stream);
    const ids = stored.map((m) => headerOf(m, 'Nats-Msg-Id'));
    expect(ids.sort()).toEqual([...before, ...during].map((l) => alertId(l)).sort());
  }, 60_000);
});
