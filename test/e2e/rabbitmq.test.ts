import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, type Channel, type GetMessage } from 'amqplib';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { rabbitmqOutput } from '../../outputs/rabbitmq/index.js';
import { buildMessage } from '../../outputs/rabbitmq/payload.js';
import { isDeliveryError, type DeliveryError } from '../../outputs/kit/errors.js';
import type { Output } from '../../outputs/kit/types.js';
import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { falcoHeaders, fixtureAlertLines } from '../helpers/fixtures.js';
import { goldenAlerts } from '../helpers/golden.js';
import { drained, testConfig } from '../helpers/harness.js';
import { TestRabbit } from '../helpers/rabbitmq-server.js';
import { useRig } from '../helpers/rig.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The rabbitmq output against a real rabbitmq-server of this file's own (one per file: it takes a
 * few seconds to boot), in a vhost of its own, with a user of its own. Each test uses its own
 * exchange and queues. The consumer side is plain amqplib as guest.
 */

const VHOST = 'falconet e2e/1';
const USER = { username: 'falconet', password: 'amqp-s3cret-Pa55' };
let rabbit: TestRabbit;
const outputs: Output[] = [];
const rig = useRig();
const tlsFile = (name: string) => fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));

beforeAll(async () => {
  rabbit = await new TestRabbit({ vhosts: [VHOST], users: [USER], tls: { ca: tlsFile('ca.pem'), cert: tlsFile('server.pem'), key: tlsFile('server.key') } }).start();
}, 90_000);

afterAll(async () => {
  await rabbit?.destroy();
});

afterEach(async () => {
  await Promise.all(outputs.splice(0).map((o) => o.close?.()));
});

const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

function create(options: Record<string, unknown>): Output {
  const instance = parseOutputInstance('amqp', { type: 'rabbitmq', url: rabbit.url(VHOST), ...USER, ...options }, rabbitmqOutput);
  const output = rabbitmqOutput.create(instance.config, { name: instance.name, logger: pino({ level: 'silent' }) });
  outputs.push(output);
  return output;
}

const send = (output: Output, alerts: Alert[], timeoutMs = 10_000) => output.send(alerts, { signal: AbortSignal.timeout(timeoutMs) });

async function failure(promise: Promise<unknown>): Promise<DeliveryError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isDeliveryError(err), `expected a DeliveryError, got ${String(err)}`).toBe(true);
  return err as DeliveryError;
}

/** Runs `fn` on a fresh guest channel in the test vhost (fresh: a broker restart kills old ones). */
async function withChannel<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
  const conn = await connect(rabbit.url(VHOST), { timeout: 5000 });
  try {
    const ch = await conn.createChannel();
    return await fn(ch);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** A durable queue bound to `exchange` (declared as the output declares it) by `pattern`. */
async function boundQueue(exchange: string, pattern = '#', args: Record<string, unknown> = {}): Promise<string> {
  const queue = unique('q');
  await withChannel(async (ch) => {
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true, arguments: args });
    await ch.bindQueue(queue, exchange, pattern);
  });
  return queue;
}

/** Every message in the queue, taken off it. */
async function takeAll(queue: string): Promise<GetMessage[]> {
  return withChannel(async (ch) => {
    const out: GetMessage[] = [];
    for (let m = await ch.get(queue, { noAck: true }); m; m = await ch.get(queue, { noAck: true })) out.push(m);
    return out;
  });
}

const depth = (queue: string) => withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);

/** Distinct alerts: one fixture event with a sequence number in its id, output and fields. */
function streamAlerts(count: number, tag: string): Alert[] {
  const line = fixtureAlertLines()[8]!;
  return normalise(Array.from({ length: count }, (_, i) => [`${tag}-${i}`, line.replace('"output_fields":{', `"output_fields":{"stream.seq":${i},`)] as const));
}

describe('rabbitmq output against rabbitmq-server', () => {
  it('publishes each alert as a persistent JSON message with its id, routing key and headers', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange);
    const output = create({ exchange });
    const alerts = Object.values(goldenAlerts());
    for (const alert of alerts) expect(await send(output, [alert])).toBeUndefined();

    const got = await takeAll(queue);
    expect(got).toHaveLength(alerts.length);
    for (const [i, msg] of got.entries()) {
      const alert = alerts[i]!;
      // What the golden (outputs/rabbitmq/golden) pins down is what the broker delivers.
      const built = buildMessage(alert, { routingKey: 'falco.{priority}.{rule}', mandatory: true });
      expect(msg.fields.exchange).toBe(exchange);
      expect(msg.fields.routingKey).toBe(built.routingKey);
      expect(msg.content.toString()).toBe(stringifyJson(alert));
      expect(msg.properties).toMatchObject({
        deliveryMode: 2,
        contentType: 'application/json',
        messageId: alert.id,
        timestamp: built.properties.timestamp,
        type: alert.rule,
        appId: 'falconet',
        headers: built.properties.headers,
      });
    }
    expect(got[0]!.fields.routingKey).toBe('falco.notice.terminal_shell_in_container');
    expect(got[0]!.properties.timestamp).toBe(Math.floor(Date.parse('2025-06-12T08:14:03Z') / 1000));
    expect(got[0]!.content.toString()).toContain('"evt.time":1749716043412907117');

    // The exchange the output declared is a durable topic exchange.
    const exchanges = await rabbit.rabbitmqctl('list_exchanges', '-p', VHOST, '--no-table-headers', '--silent', 'name', 'type', 'durable');
    expect(exchanges.split('\n')).toContain(`${exchange}\ttopic\ttrue`);
  });

  it('a batch is published at once and resolves when every message is confirmed', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange);
    const output = create({ exchange, routingKey: 'alerts.{source}.{priority}', batch: { size: 50 } });
    const alerts = streamAlerts(50, unique('batch'));
    expect(await send(output, alerts)).toBeUndefined();
    const got = await takeAll(queue);
    expect(got.map((m) => m.properties.messageId)).toEqual(alerts.map((a) => a.id));
    expect(new Set(got.map((m) => m.fields.routingKey))).toEqual(new Set(['alerts.syscall.notice']));
  });

  it('an alert no queue is bound for is retried, not counted delivered (mandatory)', async () => {
    const exchange = unique('falco');
    const output = create({ exchange });
    const [alert] = streamAlerts(1, unique('unroutable'));
    const err = await failure(send(output, [alert!]));
    expect(err.retryable).toBe(true);
    expect(err.reason).toBe('client_error');
    expect(err.message).toMatch(/unroutable/);
    expect(err.message).toContain(`"falco.notice.terminal_shell_in_container" on exchange "${exchange}"`);

    // In a batch, only the alerts without a queue come back for retry.
    const critical = await boundQueue(exchange, 'falco.critical.#');
    const plugin = goldenAlerts().plugin; // Critical
    const result = await send(output, [alert!, plugin]);
    expect(result).toEqual({ retry: [alert] });
    expect((await takeAll(critical)).map((m) => m.properties.messageId)).toEqual([plugin.id]);

    // mandatory: false publishes into the void and counts it delivered: why it is not the default.
    expect(await send(create({ exchange, mandatory: false }), [alert!])).toBeUndefined();
  });

  it('a full queue with x-overflow reject-publish nacks: the alert is retried and goes in once there is room', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange, '#', { 'x-max-length': 2, 'x-overflow': 'reject-publish' });
    const output = create({ exchange });
    const alerts = streamAlerts(3, unique('full'));
    await send(output, [alerts[0]!]);
    await send(output, [alerts[1]!]);
    const err = await failure(send(output, [alerts[2]!]));
    expect(err.retryable).toBe(true);
    expect(err.reason).toBe('server_error');
    expect(err.message).toMatch(/nacked/);

    expect((await takeAll(queue)).map((m) => m.properties.messageId)).toEqual([alerts[0]!.id, alerts[1]!.id]);
    await send(output, [alerts[2]!]);
    // A batch into a queue with one place left: the rest is marked for retry.
    const batch = streamAlerts(4, unique('full-batch'));
    expect(await send(create({ exchange, batch: { size: 10 } }), batch)).toEqual({ retry: batch.slice(1) });
    expect((await takeAll(queue)).map((m) => m.properties.messageId)).toEqual([alerts[2]!.id, batch[0]!.id]);
  });

  it('declareExchange: false waits for the exchange to exist, reconnecting with backoff', async () => {
    const exchange = unique('managed');
    const output = create({ exchange, declareExchange: false });
    const [alert] = streamAlerts(1, unique('managed'));
    const err = await failure(send(output, [alert!]));
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/NOT_FOUND/);
    const queue = await boundQueue(exchange);
    await waitFor(async () => (await send(output, [alert!]).then(() => true, () => false)), { what: 'a send once the exchange exists' });
    expect((await takeAll(queue)).map((m) => m.properties.messageId)).toEqual([alert!.id]);
  });

  it('a refused login fails retryably as an auth error, without the password', async () => {
    const output = create({ exchange: unique('falco'), password: 'not-the-Pa55word' });
    const err = await failure(send(output, streamAlerts(1, unique('auth'))));
    expect(err.retryable).toBe(true);
    expect(err.reason).toBe('auth_error');
    expect(err.message).not.toContain('not-the-Pa55word');
    expect(err.message).toContain(`vhost ${VHOST}`);
  });

  it('while the broker blocks publishing (a memory alarm) sends fail at once and retryably, so retries pile nothing up; after it every alert arrives', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange);
    const output = create({ exchange });
    const alerts = streamAlerts(5, unique('alarm'));
    expect(await send(output, [alerts[0]!])).toBeUndefined();
    await rabbit.rabbitmqctl('set_vm_memory_high_watermark', 'absolute', '1');
    try {
      // The broker says connection.blocked once a publish meets the alarm; sends until then stay unconfirmed.
      await waitFor(async () => /resource alarm/.test((await failure(send(output, [alerts[1]!], 500))).message), { what: 'the broker to block publishing' });
      // What the queue's retries would do for a while: none may reach the socket.
      for (let round = 0; round < 10; round++) {
        for (const alert of alerts.slice(1)) {
          const err = await failure(send(output, [alert], 500));
          expect(err.retryable && /resource alarm/.test(err.message), err.message).toBe(true);
        }
      }
    } finally {
      await rabbit.rabbitmqctl('set_vm_memory_high_watermark', '0.4');
    }
    await waitFor(() => send(output, alerts.slice(1)).then(() => true, () => false), { timeoutMs: 30_000, what: 'sends to succeed after the alarm' });
    const ids = (await takeAll(queue)).map((m) => String(m.properties.messageId));
    expect(new Set(ids)).toEqual(new Set(alerts.map((a) => a.id)));
    // Only the sends made before the broker's notice can arrive twice, never the 40 retries after it.
    expect(ids.length).toBeLessThanOrEqual(alerts.length + 3);
  });

  it('amqps: a private CA and a client certificate; without either the connection is refused, retryably', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange);
    const [alert] = streamAlerts(1, unique('tls'));
    const tls = { ca: tlsFile('ca.pem'), cert: tlsFile('client.pem'), key: tlsFile('client.key') };
    expect(await send(create({ url: rabbit.tlsUrl(VHOST), tls, exchange }), [alert!])).toBeUndefined();
    expect((await takeAll(queue)).map((m) => m.properties.messageId)).toEqual([alert!.id]);

    const unknownCa = await failure(send(create({ url: rabbit.tlsUrl(VHOST), tls: { ...tls, ca: undefined }, exchange }), [alert!]));
    expect(unknownCa).toMatchObject({ retryable: true, reason: 'network' });
    expect(unknownCa.message).toMatch(/certificate/i);
    const noClientCert = await failure(send(create({ url: rabbit.tlsUrl(VHOST), tls: { ca: tls.ca }, exchange }), [alert!]));
    expect(noClientCert.retryable).toBe(true);
    expect(await depth(queue)).toBe(0);
  });

  it('a broker restart in the middle of 200 alerts loses none: sends fail retryably while it is down', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange);
    const output = create({ exchange });
    const alerts = streamAlerts(200, unique('restart'));
    const errors: unknown[] = [];
    let confirmed = 0;
    // Senders retrying each alert until it is confirmed, as the delivery queue would.
    const stream = async (from: number, to: number, senders = 4) => {
      let next = from;
      const sender = async () => {
        for (let i = next++; i < to; i = next++) {
          for (;;) {
            try {
              await send(output, [alerts[i]!], 5_000);
              confirmed++;
              // Paced (about 40/s in all), so the stream is still running when the broker stops.
              await new Promise((r) => setTimeout(r, 100));
              break;
            } catch (err) {
              errors.push(err);
              await new Promise((r) => setTimeout(r, 50));
            }
          }
        }
      };
      await Promise.all(Array.from({ length: senders }, sender));
    };
    // The broker stops its AMQP side (closing every connection) in the middle of the stream, with
    // publishes awaiting their confirms; they and the rest keep being retried until it is back.
    const all = stream(0, 200);
    await waitFor(() => confirmed >= 40, { timeoutMs: 30_000, what: '40 alerts confirmed' });
    await rabbit.rabbitmqctl('stop_app');
    try {
      await waitFor(() => errors.length >= 4, { what: 'sends failing while the broker is down' });
    } finally {
      await rabbit.rabbitmqctl('start_app');
    }
    await all;

    expect(errors.length).toBeGreaterThan(0);
    for (const err of errors) expect(isDeliveryError(err) && err.retryable, String(err)).toBe(true);
    const got = await takeAll(queue);
    const byId = new Map(got.map((m) => [m.properties.messageId as string, m.content.toString()]));
    // At least once: a confirm lost with the connection means a second copy, never a missing one.
    expect(byId.size).toBe(alerts.length);
    for (const alert of alerts) expect(byId.get(alert.id)).toBe(stringifyJson(alert));
  }, 90_000);

  it('through the pipeline: a broker crash mid-stream, the alerts wait in the queue and all arrive', async () => {
    const exchange = unique('falco');
    const queue = await boundQueue(exchange);
    const pipeline = await rig.pipeline(
      testConfig({
        dedup: { window: 0 },
        outputs: {
          amqp: { type: 'rabbitmq', url: rabbit.url(VHOST), ...USER, exchange, retry: { attempts: 100, backoff: '50ms', maxBackoff: '500ms' } },
        },
        routes: [{ outputs: ['amqp'] }],
      }),
    );
    const template = fixtureAlertLines()[3]!;
    const line = (seq: number) => template.replace('"output_fields":{', `"output_fields":{"stream.seq":${seq},`);
    const post = async (from: number, to: number) => {
      for (let seq = from; seq < to; seq++) expect((await pipeline.post(line(seq), falcoHeaders())).status).toBe(200);
    };
    await post(0, 100);
    await waitFor(async () => (await depth(queue)) >= 50, { what: '50 alerts in the RabbitMQ queue', timeoutMs: 20_000 });
    await rabbit.kill();
    await post(100, 200);
    await rabbit.start();
    await drained(pipeline, ['amqp'], 60_000);

    const got = await takeAll(queue);
    const seqs = new Set(got.map((m) => (JSON.parse(m.content.toString()) as { output_fields: { 'stream.seq': number } }).output_fields['stream.seq']));
    expect(seqs.size).toBe(200);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    for (const m of got) expect(m.properties.deliveryMode).toBe(2);
  }, 90_000);
});
