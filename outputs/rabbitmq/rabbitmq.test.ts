import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseOutputInstance } from '../../src/config/load.js';
import { expectGolden, goldenAlerts } from '../../test/helpers/golden.js';
import { amqpTarget } from './connection.js';
import { DEFAULT_ROUTING_KEY, buildMessage, shortString, type AmqpMessage } from './payload.js';

const golden = (name: string) => fileURLToPath(new URL(`./golden/${name}`, import.meta.url));
const alerts = goldenAlerts();

/** A message as the golden shows it: routing key, properties, then the body bytes as one line. */
function render(m: AmqpMessage): string {
  return `routing key: ${m.routingKey}\nproperties: ${JSON.stringify(m.properties)}\nbody: ${m.content.toString()}\n`;
}

const load = (options: Record<string, unknown>) => parseOutputInstance('amqp', { type: 'rabbitmq', url: 'amqp://mq.example.com/falco', ...options });

describe('rabbitmq message', () => {
  it('golden: routing key, persistent JSON properties with messageId = alert id, body = the alert', () => {
    const messages = Object.values(alerts).map((a) => buildMessage(a, { routingKey: DEFAULT_ROUTING_KEY, mandatory: true }));
    expectGolden(golden('messages.txt'), messages.map(render).join('\n'));
    const syscall = messages[0]!;
    expect(syscall.routingKey).toBe('falco.notice.terminal_shell_in_container');
    expect(syscall.properties).toMatchObject({ deliveryMode: 2, mandatory: true, contentType: 'application/json', messageId: alerts.syscall.id, type: 'Terminal shell in container' });
    expect(syscall.properties.timestamp).toBe(Date.UTC(2025, 5, 12, 8, 14, 3) / 1000);
    expect(syscall.content.toString()).toContain('"evt.time":1749716043412907117');
    expect(syscall.properties.headers).toEqual({ priority: 'Notice', rule: 'Terminal shell in container', source: 'syscall', hostname: alerts.syscall.hostname });
  });

  it('values become one routing-key word each: no dot, wildcard or space from a rule name', () => {
    const alert = { ...alerts.syscall, rule: 'Shell > pod.* #1', output_fields: { ...alerts.syscall.output_fields, 'k8s.ns.name': 'kube.system' } };
    expect(buildMessage(alert, { routingKey: 'falco.{namespace}.{rule}', mandatory: true }).routingKey).toBe('falco.kube_system.shell_pod_1');
    expect(buildMessage({ ...alert, hostname: undefined }, { routingKey: 'h.{hostname}', mandatory: false }).routingKey).toBe('h._');
  });

  it('type is cut to the 255-byte short string without splitting a character', () => {
    const long = 'é'.repeat(200);
    const cut = shortString(long);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(255);
    expect(cut).toBe('é'.repeat(127));
    expect(buildMessage({ ...alerts.syscall, rule: long }, { routingKey: 'x', mandatory: true }).properties.headers.rule).toBe(long);
  });
});

describe('rabbitmq options', () => {
  it('defaults: exchange falco, declared, mandatory, falco.{priority}.{rule}', () => {
    const { config } = load({});
    expect(config).toMatchObject({ exchange: 'falco', declareExchange: true, mandatory: true, routingKey: 'falco.{priority}.{rule}', connectTimeout: 10_000 });
  });

  it.each([
    [{ routingKey: 'falco.*.{rule}' }, /routingKey: "\*" is not allowed in a routing key/],
    [{ routingKey: 'falco..{rule}' }, /routingKey: .*empty level/],
    [{ url: 'http://mq.example.com' }, /url/],
    [{ tls: { insecureSkipVerify: true } }, /tls: tls needs an amqps:\/\/ url/],
    [{ url: 'amqp://mq.example.com/?heartbeat=5' }, /url: query parameters are not read/],
    [{ exchange: 'amq.topic' }, /exchange: amq\.\* exchanges belong to the broker/],
    [{ exchange: 'has space' }, /exchange/],
    [{ heartbeat: '20h' }, /heartbeat: at most 65535s/],
  ])('refuses %o', (options, message) => {
    expect(() => load(options)).toThrow(message);
  });

  it('amq.topic is fine when the output does not declare it', () => {
    expect(() => load({ exchange: 'amq.topic', declareExchange: false })).not.toThrow();
  });
});

describe('rabbitmq connection target', () => {
  const base = { connectTimeout: 5000 };

  it('vhost from the path, credentials kept out of what is logged', () => {
    const t = amqpTarget({ ...base, url: 'amqps://u%40x:p%3Ass@mq.example.com/prod%2Ffalco', heartbeat: 30_000, tls: { insecureSkipVerify: false } });
    expect(t.connect).toEqual({ protocol: 'amqps', hostname: 'mq.example.com', port: 5671, vhost: 'prod%2Ffalco', username: 'u@x', password: 'p:ss', heartbeat: 30 });
    expect(t.socket).toMatchObject({ timeout: 5000, rejectUnauthorized: true });
    expect(t.where).toBe('amqps://mq.example.com vhost prod/falco');
  });

  it('username and password keys take precedence over the URL; no credentials at all is guest', () => {
    expect(amqpTarget({ ...base, url: 'amqp://a:b@mq:5673', username: 'falconet', password: 'pw' }).connect).toMatchObject({ username: 'falconet', password: 'pw', port: 5673 });
    const guest = amqpTarget({ ...base, url: 'amqp://mq' }).connect;
    expect(guest.username).toBeUndefined();
    expect(amqpTarget({ ...base, url: 'amqp://mq' }).where).toBe('amqp://mq vhost /');
    expect(amqpTarget({ ...base, url: 'amqp://mq', heartbeat: 0 }).connect.heartbeat).toBe(0);
  });
});
