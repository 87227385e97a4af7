import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJson } from '../../src/alert/json.js';
import { buildConfig } from '../../src/config/load.js';
import { convertSidekick, validateConversion } from '../../src/migrate/convert.js';
import { readSidekickSource } from '../../src/migrate/source.js';
import { setMetricsDefaults } from '../../src/observability/metrics.js';
import { startMtlsServer, type MtlsServer } from '../helpers/mtls-server.js';
import { CaptureServer, type CapturedRequest, type ScriptedResponse } from '../helpers/capture-server.js';
import { fixtureAlertLines } from '../helpers/fixtures.js';
import { REDIS_URL, startPipeline, type Pipeline } from '../helpers/harness.js';
import { waitFor } from '../helpers/wait.js';
import { connect } from 'amqplib';
import pino from 'pino';
import { rabbitmqOutput } from '../../outputs/rabbitmq/index.js';
import { isDeliveryError, type DeliveryError } from '../../outputs/kit/errors.js';
import { parseOutputInstance } from '../../src/config/load.js';
import { goldenAlerts } from '../helpers/golden.js';
import { TestRabbit } from '../helpers/rabbitmq-server.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

let pipeline: Pipeline | undefined;
let captures: CaptureServer[] = [];
let siem: MtlsServer | undefined;
afterEach(async () => {
  setMetricsDefaults({ sidekickCompat: false });
  await pipeline?.stop();
  await Promise.all(captures.map((c) => c.stop()));
  await siem?.stop();
  pipeline = siem = undefined;
  captures = [];
});

/** Elasticsearch's _bulk answer: one `create` item per document, all 201. */
function bulkAnswer(req: CapturedRequest): ScriptedResponse {
  const actions = req.body.split('\n').filter((l) => l.trim() !== '').filter((_, i) => i % 2 === 0);
  const items = actions.map((a) => ({ create: { _id: (JSON.parse(a) as { create: { _id: string } }).create._id, status: 201 } }));
  return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ took: 2, errors: false, items }) };
}

async function capture(fallback: ScriptedResponse | ((req: CapturedRequest) => ScriptedResponse)): Promise<CaptureServer> {
  const server = new CaptureServer();
  server.fallback = fallback;
  captures.push(await server.start());
  return server;
}

describe('a Falcosidekick config converted by import-sidekick delivers', () => {
  it('one alert to Slack, Teams, both Alertmanagers, PagerDuty, Elasticsearch, Loki and the mTLS webhook; minimumpriority kept per output', async () => {
    const slack = await capture({ status: 200, body: 'ok' });
    const teams = await capture({ status: 200, body: '1' });
    const am0 = await capture({ status: 200 });
    const am1 = await capture({ status: 200 });
    const pagerduty = await capture({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success","message":"Event processed"}' });
    const es = await capture(bulkAnswer);
    const loki = await capture({ status: 204 });
    siem = await startMtlsServer();
    const received = siem.received;

    // The documented example, with each destination's host pointed at its capture server.
    const yaml = readFileSync(fixture('sidekick/full.yaml'), 'utf8')
      .replace('https://hooks.slack.com', slack.url)
      .replace('https://contoso.webhook.office.com', teams.url)
      .replace('http://alertmanager-0.monitoring:9093', am0.url)
      .replace('http://alertmanager-1.monitoring:9093', am1.url)
      .replace('http://elasticsearch.logging:9200', es.url)
      .replace('http://loki.logging:3100', loki.url)
      .replace('https://siem.example.com', siem.url)
      .replaceAll('/etc/certs/client/', fixture('tls/'));
    const conversion = convertSidekick(readSidekickSource({ yaml }));
    const secretEnv = Object.fromEntries(conversion.secrets.map((s) => [s.env, s.value]));
    expect(validateConversion(conversion, secretEnv)).toEqual([]);
    const doc = conversion.config as { outputs: Record<string, Record<string, unknown>> };
    // PagerDuty's endpoint is fixed in Falcosidekick (no key to rewrite): the one edit, for the test.
    doc.outputs.pagerduty!.url = `${pagerduty.url}/v2/enqueue`;
    const config = buildConfig(
      { ...doc, listen: { host: '127.0.0.1', port: 0 }, redis: { url: REDIS_URL, prefix: `fnt-${randomUUID().slice(0, 8)}` } },
      secretEnv,
    );
    setMetricsDefaults({ sidekickCompat: config.metrics.sidekickCompat });
    pipeline = await startPipeline(config);

    const lines = fixtureAlertLines();
    const critical = lines[22]!; // Web Server Spawned Shell, namespace team2, proc sh
    const notice = lines[8]!; // Terminal shell in container, namespace team1: below Teams' warning and PagerDuty's critical
    expect((await pipeline.post(critical)).status).toBe(200);
    expect((await pipeline.post(notice)).status).toBe(200);

    const CRITICAL = 'Web Server Spawned Shell';
    const NOTICE = 'Terminal shell in container';
    const hit = (c: CaptureServer, rule: string) => c.requests.find((r) => r.body.includes(rule));
    const all = [slack, teams, am0, am1, pagerduty, es, loki];
    await waitFor(() => all.every((c) => hit(c, CRITICAL)) && received.some((r) => r.body.includes(CRITICAL)), {
      what: 'the critical alert at every destination',
      timeoutMs: 20_000,
    });
    const body = (c: CaptureServer, rule = CRITICAL) => parseJson(hit(c, rule)!.body) as Record<string, any>;

    // Slack: the webhook path (secret from SLACK_WEBHOOKURL), the converted messageformat, the channel.
    expect(hit(slack, CRITICAL)!.path).toBe('/services/T0123/B0456/s3cr3tSlackToken');
    expect(JSON.stringify(body(slack))).toContain(`Alert from ip-10-0-47-201.ec2.internal: ${CRITICAL} in team2`);
    expect(body(slack).channel).toBe('#falco-alerts');
    // Teams: the legacy connector card Falcosidekick sent.
    expect(body(teams)['@type']).toBe('MessageCard');
    // Alertmanager HA: the same alert to both replicas, API v2, extra label and severity.
    for (const am of [am0, am1]) {
      expect(hit(am, CRITICAL)!.path).toBe('/api/v2/alerts');
      expect(body(am)).toEqual(expect.arrayContaining([expect.objectContaining({ labels: expect.objectContaining({ alertname: CRITICAL, team: 'security', severity: 'critical' }) })]));
    }
    // PagerDuty: the routing key from PAGERDUTY_ROUTINGKEY.
    expect(body(pagerduty)).toMatchObject({ routing_key: 's3cr3tR0utingKey0123456789abcdef', event_action: 'trigger' });
    // Elasticsearch: _bulk into falco-YYYY.MM.DD with basic auth, customfields and templatedfields in the document.
    const bulk = hit(es, CRITICAL)!;
    expect(bulk.path).toBe('/_bulk');
    expect(bulk.headers.authorization).toBe(`Basic ${Buffer.from('falco:s3cr3t-es-password').toString('base64')}`);
    const docLines = bulk.body.split('\n').filter(Boolean);
    const at = docLines.findIndex((l) => l.includes(CRITICAL));
    expect(JSON.parse(docLines[at - 1]!).create._index).toBe('falco-2025.06.12');
    expect((parseJson(docLines[at]!) as { output_fields: unknown }).output_fields).toMatchObject({ cluster: 'prod-eu-1', environment: 'production', namespace_or_none: 'team2', process: 'sh' });
    // Loki: tenant header, basic auth, the custom field as a stream label.
    const push = hit(loki, CRITICAL)!;
    expect(push.path).toBe('/loki/api/v1/push');
    expect(push.headers['x-scope-orgid']).toBe('security');
    expect(push.headers.authorization).toBe(`Basic ${Buffer.from('123456:s3cr3t-loki-key').toString('base64')}`);
    expect(body(loki).streams).toEqual(expect.arrayContaining([expect.objectContaining({ stream: expect.objectContaining({ rule: CRITICAL, cluster: 'prod-eu-1', tags: expect.stringContaining('migrated') }) })]));
    // Webhook: mutual TLS with the client certificate, custom headers, the enriched alert.
    const delivery = received.find((r) => r.body.includes(CRITICAL))!;
    expect(delivery.peer).toBe('falconet-client');
    expect(delivery.headers).toMatchObject({ 'x-api-key': 's3cr3t-siem-key', 'x-source': 'falco' });
    const alert = parseJson(delivery.body) as unknown as { tags: string[]; output_fields: Record<string, unknown> };
    expect(alert.tags).toEqual(expect.arrayContaining(['migrated', 'prod']));
    expect(alert.output_fields).toMatchObject({ cluster: 'prod-eu-1', namespace_or_none: 'team2' });

    // The notice alert: to every output whose minimumpriority it meets, not to Teams or PagerDuty.
    await waitFor(() => [slack, am0, am1, es, loki].every((c) => hit(c, NOTICE)) && received.some((r) => r.body.includes(NOTICE)), {
      what: 'the notice alert',
      timeoutMs: 20_000,
    });
    for (const name of ['teams', 'pagerduty']) {
      const counts = await pipeline.queue(name).getJobCounts();
      expect(Object.values(counts).reduce((a, b) => a + b, 0), name).toBe(1);
    }
    expect(teams.requests).toHaveLength(1);
    expect(pagerduty.requests).toHaveLength(1);

    // metrics.sidekickCompat: Falcosidekick's counters, destination = Falcosidekick's output names.
    // Counted once the worker has the answer, a moment after the receiver saw the request: polled.
    const expected = [
      'falcosecurity_falcosidekick_inputs_total{source="requests",status="accepted"} 2',
      'falcosecurity_falcosidekick_outputs_total{destination="pagerduty",status="ok"} 1',
      'falcosecurity_falcosidekick_outputs_total{destination="webhook",status="ok"} 2',
      'falcosecurity_falcosidekick_outputs_total{destination="slack",status="ok"} 2',
    ];
    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${pipeline!.collector.url}/metrics`)).text();
      return expected.every((m) => text.includes(m)) ? text : undefined;
    }, { what: 'the Falcosidekick-compatible counters', timeoutMs: 20_000 });
    expect(metrics).toContain('falconet_deliveries_total');
  });
});

describe('a converted Falcosidekick rabbitmq section against rabbitmq-server', () => {
  let rabbit: TestRabbit | undefined;
  afterEach(async () => {
    await rabbit?.destroy();
    rabbit = undefined;
  });

  it('delivers into Falcosidekick\'s queue once it is bound as the report says; before that the alert is retried, not lost', async () => {
    const user = { username: 'sidekick', password: 'p@ss-s3cret' };
    rabbit = await new TestRabbit({ vhosts: ['security'], users: [user] }).start();
    const queue = `falco-events-${randomUUID().slice(0, 8)}`;
    // The queue as Falcosidekick's users had it: declared, fed through the default exchange.
    const conn = await connect(rabbit.url('security'), { timeout: 5000 });
    try {
      const ch = await conn.createChannel();
      await ch.assertQueue(queue, { durable: true });

      const yaml = `rabbitmq:\n  url: "amqp://sidekick:p%40ss-s3cret@127.0.0.1:${rabbit.port}/security"\n  queue: "${queue}"\n`;
      const conversion = convertSidekick(readSidekickSource({ yaml }));
      const secretEnv = Object.fromEntries(conversion.secrets.map((s) => [s.env, s.value]));
      expect(validateConversion(conversion, secretEnv)).toEqual([]);
      const converted = (conversion.config as { outputs: Record<string, Record<string, unknown>> }).outputs.rabbitmq!;
      expect(converted.password).toBe('${RABBITMQ_PASSWORD}');
      const options = { ...converted, password: secretEnv.RABBITMQ_PASSWORD };
      const instance = parseOutputInstance('rabbitmq', options, rabbitmqOutput);
      const output = rabbitmqOutput.create(instance.config, { name: instance.name, logger: pino({ level: 'silent' }) });
      try {
        const alert = Object.values(goldenAlerts())[0]!;
        const send = () => output.send([alert], { signal: AbortSignal.timeout(10_000) });

        // Not bound yet: the mandatory publish comes back and the alert is retried.
        const err = await send().then(() => undefined, (e: unknown) => e);
        expect(isDeliveryError(err)).toBe(true);
        expect((err as DeliveryError).retryable).toBe(true);
        expect((err as DeliveryError).message).toContain('unroutable');

        // The binding the report names: exchange falco -> the queue, binding key = the queue name.
        const note = conversion.lines.find((l) => l.key === 'rabbitmq' && l.message.includes('Bind the queue'))!.message;
        expect(note).toContain(`exchange falco → queue ${queue}, binding key ${queue}`);
        await ch.bindQueue(queue, 'falco', queue);
        expect(await send()).toBeUndefined();
        const msg = await ch.get(queue, { noAck: true });
        expect(msg && msg.fields.routingKey).toBe(queue);
        expect(msg && msg.properties.messageId).toBe(alert.id);
      } finally {
        await output.close?.();
      }
    } finally {
      await conn.close().catch(() => undefined);
    }
  }, 90_000);
});
