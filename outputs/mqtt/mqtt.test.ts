import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { digestFixture } from '../../test/helpers/digest-fixture.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { waitFor } from '../../test/helpers/wait.js';
import { DeliveryError, isDeliveryError } from '../kit/errors.js';
import type { Output, SendResult } from '../kit/types.js';
import { defaultClientId, mqttOutput, sendResult } from './index.js';
import { publishPacketSize } from './connection.js';
import { DEFAULT_TOPIC, MAX_PROPERTY_CHARS, buildMqttMessage, connackError, propertyText, publishError, type MqttMessage } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));

/** A message as a reviewer reads it: topic, properties, a blank line, the payload bytes. */
function render(m: MqttMessage): string {
  const head = [`topic: ${m.topic}`];
  if (m.properties) {
    head.push(`content-type: ${m.properties.contentType}`, `payload-format-indicator: ${m.properties.payloadFormatIndicator ? 1 : 0}`);
    for (const [k, v] of Object.entries(m.properties.userProperties)) head.push(`user-property: ${k}=${v}`);
  }
  return `${head.join('\n')}\n\n${m.payload}\n`;
}

function alertWith(fields: Record<string, unknown>): Alert {
  const base = { rule: 'Terminal shell in container', priority: 'Critical', time: '2026-08-20T10:11:12.123456789Z', hostname: 'node-7', source: 'syscall', output_fields: {} };
  return normalise([['id-1', JSON.stringify({ ...base, ...fields })]])[0]!;
}

describe('mqtt message', () => {
  it.each(Object.entries(goldenAlerts()))('matches the golden topic, properties and payload for %s', (name, alert) => {
    expectGolden(golden(`${name}.txt`), render(buildMqttMessage(alert, { topic: DEFAULT_TOPIC, protocolVersion: 5 })));
  });

  it('matches the golden for a digest, marked by a user property', () => {
    const m = buildMqttMessage(digestFixture(), { topic: DEFAULT_TOPIC, protocolVersion: 5 });
    expectGolden(golden('digest.txt'), render(m));
    expect(m.properties!.userProperties.digest).toBe('true');
  });

  it('matches the golden under MQTT 3.1.1: no properties', () => {
    const m = buildMqttMessage(goldenAlerts().syscall, { topic: 'falco/{hostname}/{priority}', protocolVersion: 4 });
    expect(m.properties).toBeUndefined();
    expectGolden(golden('syscall-v4.txt'), render(m));
  });

  it('slugs every value into one level: no separator or wildcard from the alert reaches the topic', () => {
    const alert = alertWith({ rule: 'Shell > pod / x+y#z', output_fields: { 'k8s.ns.name': 'team/a+#', 'k8s.pod.name': '' } });
    const m = buildMqttMessage(alert, { topic: 'sec/{namespace}/{pod}/{rule}', protocolVersion: 5 });
    expect(m.topic).toBe('sec/team_a/_/shell_pod_x_y_z');
  });

  it.each([4, 5] as const)('computes the PUBLISH size exactly (MQTT %i), for the broker\'s Maximum Packet Size', (protocolVersion) => {
    for (const alert of [...Object.values(goldenAlerts()), digestFixture()]) {
      const m = buildMqttMessage(alert, { topic: DEFAULT_TOPIC, protocolVersion });
      const packet = mqttPacket.generate({ cmd: 'publish', topic: m.topic, payload: m.payload, qos: 1, messageId: 42, dup: false, retain: false, properties: m.properties }, { protocolVersion });
      expect(publishPacketSize(m)).toBe(packet.length);
    }
  });

  it('makes user properties valid MQTT strings: controls, lone surrogates and noncharacters replaced, long values cut', () => {
    expect(propertyText('a\u0000b\u001bc\u0085d\ud800e\u{10fffe}f\ufffeg😀')).toBe('a\ufffdb\ufffdc\ufffdd\ufffde\ufffdf\ufffdg😀');
    expect(propertyText('x'.repeat(70_000))).toHaveLength(MAX_PROPERTY_CHARS);
    // A cut through a surrogate pair leaves no half of it.
    expect(propertyText(`${'x'.repeat(MAX_PROPERTY_CHARS - 1)}😀`)).toBe(`${'x'.repeat(MAX_PROPERTY_CHARS - 1)}\ufffd`);
    const m = buildMqttMessage(alertWith({ rule: 'bad\u0000rule', hostname: 'h\u0007' }), { topic: DEFAULT_TOPIC, protocolVersion: 5 });
    expect(m.properties!.userProperties).toMatchObject({ rule: 'bad\ufffdrule', hostname: 'h\ufffd' });
    expect(JSON.parse(m.payload).rule).toBe('bad\u0000rule');
  });

  it('keeps big integers exact in the payload', () => {
    const m = buildMqttMessage(goldenAlerts().syscall, { topic: DEFAULT_TOPIC, protocolVersion: 5 });
    expect(m.payload).toMatch(/"evt\.time":\d{19}/);
  });
});

describe('mqtt config', () => {
  const base = { type: 'mqtt', url: 'mqtt://broker:1883' };
  const parse = (extra: Record<string, unknown>) => parseOutputInstance('m', { ...base, ...extra });

  it('defaults to QoS 1, MQTT 5, falco/{priority}/{rule}, 30 s keepalive', () => {
    const c = parse({}).config as Record<string, unknown>;
    expect(c).toMatchObject({ qos: 1, protocolVersion: 5, topic: 'falco/{priority}/{rule}', keepalive: 30_000, connectTimeout: 10_000 });
  });

  it.each([
    ['qos 0 (unconfirmed)', { qos: 0 }, /outputs\.m\.qos/],
    ['a retain key (never retained)', { retain: true }, /outputs\.m\.retain: unknown key/],
    ['a wildcard in the topic', { topic: 'falco/+/{rule}' }, /outputs\.m\.topic: "\+" is not allowed/],
    ['a $ topic', { topic: '$SYS/{rule}' }, /outputs\.m\.topic: a topic may not start with "\$"/],
    ['a noncharacter in the topic', { topic: 'falco\u{fffe}/{rule}' }, /outputs\.m\.topic: the topic holds a control character/],
    ['an empty level', { topic: 'falco//{rule}' }, /outputs\.m\.topic: .*empty level/],
    ['a typo in a name', { topic: 'falco/{ruel}' }, /outputs\.m\.topic: unknown name/],
    ['tls on mqtt://', { tls: { insecureSkipVerify: true } }, /outputs\.m\.tls: tls needs an mqtts:\/\/ url/],
    ['an http url', { url: 'http://broker:1883' }, /outputs\.m\.url/],
    ['protocol version 3', { protocolVersion: 3 }, /outputs\.m\.protocolVersion/],
    ['a keepalive under 1 s', { keepalive: '0s' }, /outputs\.m\.keepalive/],
  ])('refuses %s', (_what, extra, message) => {
    expect(() => parse(extra)).toThrow(message);
  });

  it('accepts mqtts with a private CA and QoS 2', () => {
    expect(() => parse({ url: 'mqtts://broker:8883', qos: 2, tls: { ca: '/etc/ssl/ca.pem' } })).not.toThrow();
  });

  it('derives a stable client id from the instance and host name', () => {
    expect(defaultClientId('mqtt-team1', 'worker-7.example')).toBe('falconet-mqtt-team1-worker-7.example');
    expect(defaultClientId('a b', 'h')).toBe('falconet-a_b-h');
  });
});

describe('mqtt failure classification', () => {
  it.each([
    [4, true, 'auth_error'],
    [5, true, 'auth_error'],
    [134, true, 'auth_error'],
    [135, true, 'auth_error'],
    [138, true, 'auth_error'],
    [2, false, 'client_error'],
    [133, false, 'client_error'],
    [3, true, 'server_error'],
    [136, true, 'server_error'],
    [137, true, 'server_error'],
    [159, true, 'rate_limited'],
  ])('CONNACK %i: retryable %s, %s', (code, retryable, reason) => {
    const e = connackError(code, 'mqtt://broker:1883');
    expect([e.retryable, e.reason]).toEqual([retryable, reason]);
  });

  it.each([
    [135, false, 'auth_error'],
    [144, false, 'invalid_payload'],
    [149, false, 'invalid_payload'],
    [153, false, 'invalid_payload'],
    [151, true, 'rate_limited'],
    [150, true, 'rate_limited'],
    [128, true, 'server_error'],
    [131, true, 'server_error'],
  ])('PUBACK %i: retryable %s, %s', (code, retryable, reason) => {
    const e = publishError(code, 'mqtt://broker:1883');
    expect([e.retryable, e.reason]).toEqual([retryable, reason]);
  });

  const a = [1, 2, 3].map((i) => alertWith({ output: `alert ${i}` }));
  const retry = new DeliveryError('busy', { retryable: true, reason: 'rate_limited' });
  const never = new DeliveryError('denied', { retryable: false, reason: 'auth_error' });
  const ok: PromiseSettledResult<void> = { status: 'fulfilled', value: undefined };
  const no = (e: DeliveryError): PromiseSettledResult<void> => ({ status: 'rejected', reason: e });

  it('per alert in a batch: retryable ones back to the queue, the others dead-lettered', () => {
    expect(sendResult(a, [ok, no(retry), no(never)])).toEqual({ retry: [a[1]], rejected: [{ alert: a[2], reason: 'denied' }] });
    expect(sendResult(a, [ok, ok, ok])).toBeUndefined();
  });

  it('throws when every alert failed alike, returns per-alert outcomes when they differ', () => {
    expect(() => sendResult(a, [no(retry), no(retry), no(retry)])).toThrow('busy');
    expect(() => sendResult(a.slice(0, 1), [no(never)])).toThrow('denied');
    expect(sendResult(a.slice(0, 2), [no(retry), no(never)])).toEqual({ retry: [a[0]], rejected: [{ alert: a[1], reason: 'denied' }] });
  });
});

/**
 * A scripted MQTT 5 broker on loopback (mqtt-packet on a TCP socket): it announces a Receive
 * Maximum and answers each PUBLISH as the test says, which mosquitto cannot be made to do (it
 * neither enforces Receive Maximum nor answers quota errors on demand).
 */
class ScriptedBroker {
  private server!: Server;
  readonly sockets = new Set<Socket>();
  readonly publishes: IPublishPacket[] = [];
  inflight = 0;
  maxInflight = 0;
  connects = 0;
  /** Reason code for a PUBACK, or 'hold' to leave the PUBLISH unanswered. */
  answer: (p: IPublishPacket) => number | 'hold' = () => 0;
  private held: Array<{ socket: Socket; packet: IPublishPacket }> = [];

  constructor(private readonly receiveMaximum: number) {}

  async start(): Promise<this> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (packet: Packet) => this.onPacket(socket, packet));
      socket.on('data', (d) => parser.parse(d));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  private write(socket: Socket, packet: Packet): void {
    socket.write(mqttPacket.generate(packet, { protocolVersion: 5 }));
  }

  private onPacket(socket: Socket, packet: Packet): void {
    if (packet.cmd === 'connect') {
      this.connects++;
      this.write(socket, { cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: this.receiveMaximum } });
    } else if (packet.cmd === 'publish') {
      this.publishes.push(packet);
      this.inflight++;
      this.maxInflight = Math.max(this.maxInflight, this.inflight);
      const code = this.answer(packet);
      if (code === 'hold') this.held.push({ socket, packet });
      // Acks go out on a later tick, so publishes pile up as they would on a real link.
      else setTimeout(() => this.ack(socket, packet, code), 5);
    } else if (packet.cmd === 'pingreq') {
      this.write(socket, { cmd: 'pingresp' });
    }
  }

  private ack(socket: Socket, packet: IPublishPacket, reasonCode: number): void {
    this.inflight--;
    this.write(socket, { cmd: 'puback', messageId: packet.messageId, reasonCode });
  }

  /** Sends a DISCONNECT with a reason code and closes every connection. */
  disconnectAll(reasonCode: number): void {
    for (const s of this.sockets) {
      this.write(s, { cmd: 'disconnect', reasonCode });
      s.destroy();
    }
    this.inflight = 0;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

describe('mqtt output against a scripted broker', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  async function setup(receiveMaximum: number, extra: Record<string, unknown> = {}) {
    const broker = await new ScriptedBroker(receiveMaximum).start();
    stops.push(() => broker.stop());
    const logs: string[] = [];
    const instance = parseOutputInstance('mqtt-unit', { type: 'mqtt', url: broker.url, ...extra });
    const logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, done) => (logs.push(c.toString()), done()) }));
    const output: Output = mqttOutput.create(instance.config as never, { name: instance.name, logger });
    stops.push(() => output.close!());
    return { broker, output, logs };
  }

  const batch = (n: number) => Array.from({ length: n }, (_, i) => alertWith({ output: `alert ${i}` }));

  it('keeps at most the broker\'s Receive Maximum of publishes in flight, and confirms the whole batch', async () => {
    const { broker, output } = await setup(3, { batch: { size: 20 } });
    expect(await output.send(batch(20), { signal: AbortSignal.timeout(5_000) })).toBeUndefined();
    expect(broker.publishes).toHaveLength(20);
    expect(broker.maxInflight).toBe(3);
  });

  it('returns per-alert outcomes from PUBACK reason codes: 0 and 16 delivered, 151 retried, 135 dead-lettered', async () => {
    const { broker, output } = await setup(10, { batch: { size: 4 } });
    const alerts = batch(4);
    const codes = [0, 16, 151, 135];
    broker.answer = (p) => codes[alerts.findIndex((a) => p.payload.toString().includes(`"output":"${a.output}"`))]!;
    const result = (await output.send(alerts, { signal: AbortSignal.timeout(5_000) })) as SendResult;
    expect(result.retry).toEqual([alerts[2]]);
    expect(result.rejected?.map((r) => r.alert)).toEqual([alerts[3]]);
    expect(result.rejected?.[0]?.reason).toMatch(/reason code 135/);
  });

  it('on abort gives up with a retryable timeout and drops the message from the client\'s store (QoS 1): not sent again behind the queue\'s back', async () => {
    const { broker, output } = await setup(10);
    broker.answer = () => 'hold';
    const controller = new AbortController();
    const sending = output.send(batch(1), { signal: controller.signal }).catch((e: unknown) => e);
    await waitFor(() => broker.publishes.length === 1, { what: 'the publish at the broker' });
    controller.abort();
    const err = (await sending) as DeliveryError;
    expect(isDeliveryError(err) && err.retryable && err.reason).toBe('timeout');
    // The connection drops and comes back: a persistent session would resend stored messages.
    broker.answer = () => 0;
    broker.disconnectAll(0x8b);
    await waitFor(() => broker.connects === 2 && broker.sockets.size === 1, { what: 'the reconnect' });
    await output.send(batch(1), { signal: AbortSignal.timeout(5_000) });
    expect(broker.publishes).toHaveLength(2);
    expect(broker.publishes[1]!.dup).toBe(false);
  });

  it('after an abort keeps the packet id taken, so a late PUBACK for it cannot confirm the next alert', async () => {
    const { broker, output } = await setup(10);
    broker.answer = () => 'hold';
    const controller = new AbortController();
    const first = output.send(batch(1), { signal: controller.signal }).catch((e: unknown) => e);
    await waitFor(() => broker.publishes.length === 1, { what: 'the first publish at the broker' });
    controller.abort();
    expect(((await first) as DeliveryError).reason).toBe('timeout');
    const second = output.send(batch(1), { signal: AbortSignal.timeout(5_000) }).catch((e: unknown) => e);
    await waitFor(() => broker.publishes.length === 2, { what: 'the second publish at the broker' });
    // Reusing the id would make the broker's late PUBACK for the first message "confirm" the second.
    expect(broker.publishes[1]!.messageId).not.toBe(broker.publishes[0]!.messageId);
    broker.disconnectAll(0x8b);
    expect(isDeliveryError(await second)).toBe(true);
  });

  it('fails publishes in flight retryably when the connection drops, and logs a session takeover', async () => {
    const { broker, output, logs } = await setup(10);
    broker.answer = () => 'hold';
    const sending = output.send(batch(2), { signal: AbortSignal.timeout(5_000) }).catch((e: unknown) => e);
    await waitFor(() => broker.publishes.length === 2, { what: 'both publishes at the broker' });
    broker.disconnectAll(142);
    const err = (await sending) as DeliveryError;
    expect(isDeliveryError(err), String(err)).toBe(true);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/session taken over/);
    expect(logs.some((l) => l.includes('same clientId'))).toBe(true);
  });
});
