import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { mqttOutput } from '../../outputs/mqtt/index.js';
import { isDeliveryError, type DeliveryError } from '../../outputs/kit/errors.js';
import type { Output, SendResult } from '../../outputs/kit/types.js';
import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { fieldName, fieldValue, hostileString, PRIORITIES } from '../fuzz/arbitraries.js';
import type { JsonObject } from '../../src/alert/json.js';
import { goldenAlerts } from '../helpers/golden.js';
import { testConfig } from '../helpers/harness.js';
import { TestMosquitto, subscriber, type Received } from '../helpers/mosquitto.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The mqtt output against a real mosquitto started by the test (its own port, config and
 * persistence directory): what a subscriber receives, QoS and retain flags, the broker's flow
 * control, a broker restart in the middle of a stream, and refused credentials.
 */

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function broker(opts?: ConstructorParameters<typeof TestMosquitto>[0]): Promise<TestMosquitto> {
  const b = new TestMosquitto(opts);
  // Registered before start: a broker that fails to start still leaves no process or temp dir.
  stops.push(() => b.destroy());
  return b.start();
}

async function sub(b: TestMosquitto, ...args: Parameters<typeof subscriber> extends [unknown, ...infer R] ? R : never) {
  const s = await subscriber(b, ...args);
  stops.push(() => s.stop());
  return s;
}

function output(config: Record<string, unknown>, logLines: string[] = []): Output {
  const instance = parseOutputInstance('mqtt-e2e', { type: 'mqtt', ...config });
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logLines.push(chunk.toString()), done()) }));
  const created = mqttOutput.create(instance.config as never, { name: instance.name, logger });
  stops.push(() => created.close!());
  return created;
}

/** `count` distinct alerts (ids and output text differ) from the fixtures. */
function manyAlerts(count: number): Alert[] {
  const lines = fixtureAlertLines();
  return normalise(Array.from({ length: count }, (_, i) => [`stream-${i}`, lines[i % lines.length]!] as const)).map((a, i) => ({ ...a, output: `${a.output ?? ''} #${i}` }));
}

const idOf = (m: Received) => (JSON.parse(m.payload) as { id: string }).id;
const timeout = () => AbortSignal.timeout(5_000);

describe('mqtt output against mosquitto', () => {
  it('publishes each alert at QoS 1, never retained, on its topic, the payload exact, with MQTT 5 properties', async () => {
    const b = await broker();
    const s = await sub(b);
    const out = output({ url: b.url });
    const alerts = Object.values(goldenAlerts());
    for (const alert of alerts) expect(await out.send([alert], { signal: timeout() })).toBeUndefined();
    await waitFor(() => s.messages.length >= alerts.length, { what: 'every alert at the subscriber' });
    expect(s.messages).toHaveLength(alerts.length);
    for (const [i, alert] of alerts.entries()) {
      const m = s.messages[i]!;
      // Byte for byte: Falco's nanosecond integers and unicode survive.
      expect(m.payload).toBe(stringifyJson(alert));
      expect(m.topic).toBe(`falco/${alert.priority.toLowerCase()}/${alert.rule.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 80)}`);
      expect(m.packet.qos).toBe(1);
      expect(m.packet.retain).toBe(false);
      expect(m.packet.properties?.contentType).toBe('application/json');
      expect(m.packet.properties?.payloadFormatIndicator).toBe(true);
      expect({ ...m.packet.properties?.userProperties }).toMatchObject({ 'alert-id': alert.id, rule: alert.rule, priority: alert.priority, source: alert.source });
    }
    expect(s.messages.map((m) => m.payload).join('\n')).toContain(String(/"evt\.time":(\d+)/.exec(fixtureAlertLines()[8]!)![1]));
    // Not retained: a subscriber arriving later gets nothing replayed.
    const late = await sub(b, 'falco/#', { clientId: 'falconet-test-late', clean: true, properties: {} });
    const probe = output({ url: b.url, topic: 'probe/{rule}', clientId: 'falconet-probe' });
    await late.client.subscribeAsync('probe/#', { qos: 1 });
    await probe.send([alerts[0]!], { signal: timeout() });
    await waitFor(() => late.messages.length > 0, { what: 'the probe at the late subscriber' });
    expect(late.messages.map((m) => m.topic)).toEqual(['probe/terminal_shell_in_container']);
  });

  it('fuzz: 300 hostile alerts (control characters, lone surrogates, NULs, 64 KiB strings) all reach a strict broker intact', async () => {
    const hostile = fc
      .record({
        id: fc.string({ minLength: 1, maxLength: 32 }),
        rule: hostileString,
        priority: fc.constantFrom(...PRIORITIES),
        time: fc.constant('2025-06-12T08:00:00.123456789Z'),
        source: hostileString,
        hostname: hostileString,
        output: hostileString,
        tags: fc.array(hostileString, { maxLength: 5 }),
        output_fields: fc.dictionary(fieldName, fieldValue, { maxKeys: 15 }).map((f) => f as JsonObject),
      })
      .map((a) => a as Alert);
    const alerts = fc.sample(hostile, { numRuns: 300, seed: 4242 }).map((a, i) => ({ ...a, id: `fuzz-${i}` }));
    const b = await broker();
    const s = await sub(b, '#');
    const logs: string[] = [];
    const out = output({ url: b.url, topic: 'f/{hostname}/{rule}/{output_fields.k8s.ns.name}', batch: { size: 50 } }, logs);
    for (let i = 0; i < alerts.length; i += 50) {
      expect(await out.send(alerts.slice(i, i + 50), { signal: AbortSignal.timeout(15_000) })).toBeUndefined();
    }
    await waitFor(() => s.messages.length >= alerts.length, { what: 'every hostile alert' });
    const byId = new Map(s.messages.map((m) => [idOf(m), m]));
    for (const alert of alerts) {
      const m = byId.get(alert.id)!;
      expect(m.payload).toBe(stringifyJson(alert));
      expect(m.topic.split('/')).toHaveLength(4);
      expect(m.topic).toMatch(/^f\/[a-z0-9_-]+\/[a-z0-9_-]+\/[a-z0-9_-]+$/);
    }
    expect(logs.filter((l) => l.includes('connection lost'))).toEqual([]);
  });

  it('speaks MQTT 3.1.1 when asked: the same topic and payload, no properties', async () => {
    const b = await broker();
    const s = await sub(b, 'sec/#');
    const out = output({ url: b.url, protocolVersion: 4, topic: 'sec/{hostname}/{priority}' });
    const alert = goldenAlerts().syscall;
    await out.send([alert], { signal: timeout() });
    await waitFor(() => s.messages.length > 0, { what: 'the alert' });
    const m = s.messages[0]!;
    expect(m.topic).toBe(`sec/${alert.hostname!.toLowerCase().replace(/[^a-z0-9_-]+/g, '_')}/${alert.priority.toLowerCase()}`);
    expect(m.payload).toBe(stringifyJson(alert));
    expect(m.packet.retain).toBe(false);
    expect(m.packet.properties?.userProperties).toBeUndefined();
    expect(m.packet.properties?.contentType).toBeUndefined();
  });

  it('publishes at QoS 2 when configured', async () => {
    const b = await broker();
    const s = await sub(b, 'falco/#', { clientId: 'falconet-test-qos2' });
    await s.client.subscribeAsync('falco/#', { qos: 2 });
    const out = output({ url: b.url, qos: 2 });
    await out.send([goldenAlerts().k8s_audit], { signal: timeout() });
    await waitFor(() => s.messages.length > 0, { what: 'the alert' });
    expect(s.messages[0]!.packet.qos).toBe(2);
    expect(s.messages[0]!.packet.retain).toBe(false);
  });

  it('publishes a batch concurrently within the broker\'s Receive Maximum and confirms every alert', async () => {
    // mosquitto announces max_inflight_messages as Receive Maximum; a client past it gets "quota exceeded".
    const b = await broker({ config: ['max_inflight_messages 5'] });
    const s = await sub(b);
    const out = output({ url: b.url, batch: { size: 60 } });
    const alerts = manyAlerts(60);
    expect(await out.send(alerts, { signal: timeout() })).toBeUndefined();
    await waitFor(() => s.messages.length >= 60, { what: 'the batch at the subscriber' });
    expect(new Set(s.messages.map(idOf))).toEqual(new Set(alerts.map((a) => a.id)));
  });

  it('loses nothing when the broker restarts in the middle of 200 alerts: sends fail retryably meanwhile, the session resumes', async () => {
    const b = await broker();
    const s = await sub(b);
    const logs: string[] = [];
    const out = output({ url: b.url }, logs);
    const alerts = manyAlerts(200);
    // What the delivery queue does: four slots, a failed alert goes back to the end of the queue.
    const queue = [...alerts];
    const failures: DeliveryError[] = [];
    let confirmed = 0;
    const slot = async () => {
      for (let alert = queue.shift(); alert; alert = queue.shift()) {
        try {
          await out.send([alert], { signal: timeout() });
          confirmed++;
        } catch (err) {
          expect(isDeliveryError(err), String(err)).toBe(true);
          failures.push(err as DeliveryError);
          queue.push(alert);
          await new Promise((r) => setTimeout(r, 20)); // the queue's retry backoff, not a synchronisation
        }
      }
    };
    const restart = async () => {
      await waitFor(() => confirmed >= 80, { what: '80 alerts confirmed' });
      await b.stop();
      await waitFor(() => failures.length >= 10, { what: 'sends failing while the broker is down' });
      await b.start();
    };
    await Promise.all([slot(), slot(), slot(), slot(), restart()]);
    expect(confirmed).toBe(200);
    expect(failures.length).toBeGreaterThanOrEqual(10);
    for (const f of failures) {
      expect(f.retryable, f.message).toBe(true);
      expect(['network', 'timeout', 'server_error']).toContain(f.reason);
    }
    await waitFor(() => new Set(s.messages.map(idOf)).size >= 200, { timeoutMs: 20_000, what: 'all 200 alerts at the subscriber' });
    expect(new Set(s.messages.map(idOf))).toEqual(new Set(alerts.map((a) => a.id)));
    expect(s.messages.every((m) => m.packet.retain === false)).toBe(true);
    // The output's persistent session survived the restart (mosquitto saved it on SIGTERM).
    const reconnected = logs.map((l) => JSON.parse(l) as { msg: string; sessionPresent?: boolean }).find((l) => l.msg === 'mqtt reconnected');
    expect(reconnected?.sessionPresent).toBe(true);
  });

  it('fails a send retryably (auth_error) on a bad password, under MQTT 5 and 3.1.1, and delivers with the right one', async () => {
    const b = await broker({ users: { falconet: 'right-password' } });
    const s = await sub(b, 'falco/#', { username: 'falconet', password: 'right-password' });
    for (const protocolVersion of [5, 4]) {
      const bad = output({ url: b.url, username: 'falconet', password: 'wrong-password', protocolVersion, clientId: `falconet-bad-${protocolVersion}` });
      const error = await bad.send([goldenAlerts().plugin], { signal: timeout() }).then(
        () => undefined,
        (err: unknown) => err as DeliveryError,
      );
      expect(isDeliveryError(error), String(error)).toBe(true);
      expect(error!.retryable).toBe(true);
      expect(error!.reason).toBe('auth_error');
      expect(error!.message).not.toContain('wrong-password');
    }
    const good = output({ url: b.url, username: 'falconet', password: 'right-password' });
    await good.send([goldenAlerts().plugin], { signal: timeout() });
    await waitFor(() => s.messages.length > 0, { what: 'the alert' });
    expect(s.messages).toHaveLength(1);
  });

  it('dead-letters the alerts whose topic the broker\'s ACL refuses (PUBACK 135) and delivers the rest of the batch', async () => {
    const acl = join(tmpdir(), `falconet-mqtt-acl-${process.pid}`);
    writeFileSync(acl, 'user falconet\ntopic write falco/notice/#\ntopic read falco/#\n');
    stops.push(async () => rmSync(acl, { force: true }));
    const b = await broker({ users: { falconet: 'pw-123456' }, config: [`acl_file ${acl}`] });
    const s = await sub(b, 'falco/#', { username: 'falconet', password: 'pw-123456' });
    const alerts = Object.values(goldenAlerts());
    const allowed = alerts.filter((a) => a.priority === 'Notice');
    expect(allowed.length).toBeGreaterThan(0);
    const out = output({ url: b.url, username: 'falconet', password: 'pw-123456', batch: { size: 10 } });
    const result = (await out.send(alerts, { signal: timeout() })) as SendResult;
    expect(result.retry ?? []).toEqual([]);
    expect(result.rejected?.map((r) => r.alert.id).sort()).toEqual(alerts.filter((a) => a.priority !== 'Notice').map((a) => a.id).sort());
    expect(result.rejected?.[0]?.reason).toMatch(/reason code 135/);
    await waitFor(() => s.messages.length >= allowed.length, { what: 'the allowed alerts' });
    expect(s.messages.map(idOf).sort()).toEqual(allowed.map((a) => a.id).sort());
    // MQTT 3.1.1 has no way to say no: mosquitto acknowledges the denied publish and drops it.
    const v4 = output({ url: b.url, username: 'falconet', password: 'pw-123456', protocolVersion: 4, clientId: 'falconet-acl-v4' });
    const denied = alerts.find((a) => a.priority !== 'Notice')!;
    expect(await v4.send([denied], { signal: timeout() })).toBeUndefined();
  });

  it('refuses for good an alert over the broker\'s Maximum Packet Size, without losing the connection', async () => {
    const b = await broker({ config: ['max_packet_size 1200'] });
    const s = await sub(b);
    const logs: string[] = [];
    const out = output({ url: b.url }, logs);
    const small = goldenAlerts().plugin;
    const big = { ...small, id: 'big-one', output: 'x'.repeat(2000) };
    const err = (await out.send([big], { signal: timeout() }).catch((e: unknown) => e)) as DeliveryError;
    expect(isDeliveryError(err), String(err)).toBe(true);
    expect([err.retryable, err.reason]).toEqual([false, 'invalid_payload']);
    await out.send([small], { signal: timeout() });
    await waitFor(() => s.messages.length > 0, { what: 'the small alert' });
    expect(s.messages.map(idOf)).toEqual([small.id]);
    expect(logs.filter((l) => l.includes('mqtt connection lost'))).toEqual([]);
  });

  it('speaks TLS with a private CA and a client certificate (mTLS); a wrong CA or no certificate fails retryably', async () => {
    const tls = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
    const b = await broker({ config: [`cafile ${tls('ca.pem')}`, `certfile ${tls('server.pem')}`, `keyfile ${tls('server.key')}`, 'require_certificate true'] });
    const url = `mqtts://127.0.0.1:${b.port}`;
    const s = await sub(b, 'falco/#', { protocol: 'mqtts', ca: readFileSync(tls('ca.pem')), cert: readFileSync(tls('client.pem')), key: readFileSync(tls('client.key')) });
    // PEM paths and PEM text both work.
    const out = output({ url, tls: { ca: tls('ca.pem'), cert: readFileSync(tls('client.pem'), 'utf8'), key: tls('client.key') } });
    await out.send([goldenAlerts().syscall], { signal: timeout() });
    await waitFor(() => s.messages.length > 0, { what: 'the alert over TLS' });
    expect(s.messages[0]!.payload).toBe(stringifyJson(goldenAlerts().syscall));
    for (const tlsConfig of [{ ca: tls('ca.pem') }, { cert: tls('client.pem'), key: tls('client.key') }]) {
      const refused = output({ url, tls: tlsConfig, clientId: `falconet-tls-${Object.keys(tlsConfig).join('-')}` });
      const err = (await refused.send([goldenAlerts().syscall], { signal: timeout() }).catch((e: unknown) => e)) as DeliveryError;
      expect(isDeliveryError(err), String(err)).toBe(true);
      expect(err.retryable).toBe(true);
    }
    expect(s.messages).toHaveLength(1);
  });

  it('notices a clientId clash: each connection is taken over by the other, warned about, and retried at a growing pace', async () => {
    const b = await broker();
    const logs: string[] = [];
    output({ url: b.url, clientId: 'falconet-clash' }, logs);
    await waitFor(() => logs.some((l) => l.includes('"mqtt connected"')), { what: 'the first connection' });
    output({ url: b.url, clientId: 'falconet-clash' }, logs);
    await waitFor(() => logs.some((l) => l.includes('same clientId?')), { what: 'the clash warning' });
  });

  it('fails a send retryably and at once while the broker is down, and close() ends the client', async () => {
    const b = await broker();
    const out = output({ url: b.url });
    await out.send([goldenAlerts().syscall], { signal: timeout() });
    await b.stop();
    const started = Date.now();
    const err = (await out.send([goldenAlerts().syscall], { signal: timeout() }).catch((e: unknown) => e)) as DeliveryError;
    expect(isDeliveryError(err), String(err)).toBe(true);
    expect(err.retryable).toBe(true);
    // Not parked in mqtt.js's offline queue until the timeout.
    expect(Date.now() - started).toBeLessThan(4_000);
    await out.close!();
    await b.start();
    const after = (await out.send([goldenAlerts().syscall], { signal: timeout() }).catch((e: unknown) => e)) as DeliveryError;
    expect(after.message).toMatch(/closed/);
  });
});

describe('mqtt through the pipeline', () => {
  const rig = useRig();

  it('a broker restart in the middle of a stream: the alerts wait in the queue and all arrive after it', async () => {
    const b = await broker();
    const s = await sub(b);
    const pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: { mqtt: { type: 'mqtt', url: b.url, retry: { attempts: 100, backoff: '100ms', maxBackoff: '500ms' } } },
        routes: [{ outputs: ['mqtt'] }],
      }),
    );
    const alerts = manyAlerts(200).map((a) => JSON.stringify({ ...a, id: undefined, output_fields: {} }));
    const ids = new Set<string>();
    const post = async (from: number, to: number) => {
      const res = await pipeline.post(alerts.slice(from, to).join('\n'), { 'content-type': 'application/x-ndjson' });
      expect(res.status).toBe(200);
    };
    await post(0, 100);
    await waitFor(() => s.messages.length >= 50, { what: 'the first alerts' });
    await b.stop();
    await post(100, 200);
    await waitFor(async () => (await pipeline.queue('mqtt').getDelayedCount()) > 0, { what: 'deliveries waiting to retry while the broker is down' });
    await b.start();
    await waitFor(
      () => {
        for (const m of s.messages) ids.add((JSON.parse(m.payload) as { output: string }).output);
        return ids.size >= 200;
      },
      { timeoutMs: 25_000, what: 'all 200 alerts after the restart' },
    );
    expect(ids).toEqual(new Set(alerts.map((t) => (JSON.parse(t) as { output: string }).output)));
  });
});
