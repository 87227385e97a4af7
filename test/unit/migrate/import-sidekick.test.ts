import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { convertSidekick, validateConversion } from '../../../src/migrate/convert.js';
import { goTemplateToMustache } from '../../../src/migrate/go-template.js';
import { SIDEKICK_OUTPUTS } from '../../../src/migrate/outputs.js';
import { SIDEKICK_KEYS } from '../../../src/migrate/sidekick-keys.js';
import { helmValuesToEnv, readSidekickSource } from '../../../src/migrate/source.js';
import { rootSchema } from '../../../src/config/schema.js';
import { parseEnvFile } from '../../helpers/env-file.js';

const dir = fileURLToPath(new URL('../../fixtures/sidekick/', import.meta.url));
const read = (name: string) => readFileSync(`${dir}${name}`, 'utf8');
const yamlFixtures = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.includes('chart-values') && !f.startsWith('upstream-'));

const SECRETS = ['s3cr3tSlackToken', 's3cr3tTeams', 's3cr3tR0utingKey', 's3cr3t-es-password', 's3cr3t-loki-key', 's3cr3t-siem-key'];

describe('falconet import-sidekick: conversion', () => {
  it.each(yamlFixtures)('%s converts to a config Falconet validates', (name) => {
    const conversion = convertSidekick(readSidekickSource({ yaml: read(name) }));
    expect(validateConversion(conversion, {})).toEqual([]);
    expect(conversion.outputs.filter((o) => o.kind === 'native' || o.kind === 'webhook').length).toBeGreaterThan(0);
  });

  it('knows every key of Falcosidekick\'s own config_example.yaml (no key reported unknown), and the result validates', () => {
    const conversion = convertSidekick(readSidekickSource({ yaml: read('upstream-config_example.yaml') }));
    expect(conversion.lines.filter((l) => l.status === 'unknown')).toEqual([]);
    expect(validateConversion(conversion, {})).toEqual([]);
  });

  it('knows every key the example documents in comments too: uncommented, only gcp.minimumpriority (no such field in Falcosidekick) is unknown', () => {
    const uncommented = read('upstream-config_example.yaml').replace(/^(\s*)#\s?([A-Za-z]\w*):(.*)$/gm, (line, indent: string, key: string, rest: string) =>
      /^\s*("[^"]*"|'[^']*'|[^\s#"']*)\s*(#.*)?$/.test(rest) ? `${indent}${key}:${rest}` : line,
    );
    // Some keys are commented out twice (alternatives); the last one wins, as a re-serialised file would have it.
    const yaml = stringify(parse(uncommented, { uniqueKeys: false }));
    const source = readSidekickSource({ yaml });
    expect(source.settings.size).toBeGreaterThan(150);
    const conversion = convertSidekick(source);
    expect(conversion.lines.filter((l) => l.status === 'unknown').map((l) => l.key)).toEqual(['gcp.minimumpriority']);
    expect(validateConversion(conversion, {})).toEqual([]);
  });

  it('maps the full example: every destination, its minimumpriority, headers, mTLS, concurrency and the global enrichment', () => {
    const { config } = convertSidekick(readSidekickSource({ yaml: read('full.yaml') }));
    const outputs = config.outputs as Record<string, Record<string, unknown>>;
    expect(Object.keys(outputs)).toEqual(['slack', 'teams', 'alertmanager', 'pagerduty', 'elasticsearch', 'loki', 'webhook']);
    expect(outputs.slack).toMatchObject({ type: 'slack', webhookUrl: '${SLACK_WEBHOOKURL}', channel: '#falco-alerts', minimumPriority: 'notice', messageFormat: 'Alert from {{hostname}}: {{rule}} in {{output_fields.k8s.ns.name}}' });
    expect(outputs.teams).toMatchObject({ type: 'teams', format: 'messagecard', minimumPriority: 'warning' });
    expect(outputs.alertmanager).toMatchObject({
      urls: ['http://alertmanager-0.monitoring:9093/api/v2/alerts', 'http://alertmanager-1.monitoring:9093/api/v2/alerts'],
      expiresAfter: '300s',
      extraLabels: { team: 'security' },
      severityMap: { notice: 'info' },
      concurrency: 2,
    });
    expect(outputs.pagerduty).toMatchObject({ routingKey: '${PAGERDUTY_ROUTINGKEY}', region: 'eu', minimumPriority: 'critical' });
    expect(outputs.elasticsearch).toMatchObject({ index: 'falco-%Y.%m.%d', username: 'falco', password: '${ELASTICSEARCH_PASSWORD}' });
    expect(outputs.loki).toMatchObject({ tenant: 'security', username: '123456', password: '${LOKI_APIKEY}' });
    expect(outputs.loki!.labels).toContain('cluster');
    expect(outputs.webhook).toMatchObject({
      url: 'https://siem.example.com/falco',
      headers: { 'x-api-key': '${WEBHOOK_CUSTOMHEADERS_X_API_KEY}', 'x-source': 'falco' },
      tls: { cert: '/etc/certs/client/client.pem', key: '/etc/certs/client/client.key', ca: '/etc/certs/client/ca.pem' },
    });
    expect(config).toMatchObject({
      customFields: { cluster: 'prod-eu-1', environment: 'production' },
      customTags: ['migrated', 'prod'],
      templatedFields: { process: '{{output_fields.proc.name}}' },
      metrics: { sidekickCompat: true },
    });
  });

  it('maps opsgenie, talon and otlp.logs to their native outputs', () => {
    const yaml = [
      'opsgenie:\n  apikey: "s3cr3t-genie-key"\n  region: "EU"\n  minimumpriority: "error"',
      'talon:\n  address: "http://falco-talon.falco:2803"\n  checkcert: false',
      'otlp:\n  logs:\n    endpoint: "http://otel-collector:4318/v1/logs"\n    protocol: "grpc"\n    timeout: 5000\n    headers: "x-scope-orgid=sec,authorization=Bearer%20s3cr3t-otlp"\n    synced: true',
    ].join('\n');
    const conversion = convertSidekick(readSidekickSource({ yaml }));
    expect(validateConversion(conversion, {})).toEqual([]);
    const outputs = conversion.config.outputs as Record<string, Record<string, unknown>>;
    expect(outputs.opsgenie).toEqual({ type: 'opsgenie', apiKey: '${OPSGENIE_APIKEY}', region: 'eu', minimumPriority: 'error' });
    expect(outputs.talon).toEqual({ type: 'talon', url: 'http://falco-talon.falco:2803', tls: { insecureSkipVerify: true } });
    expect(outputs['otlp-logs']).toMatchObject({
      type: 'otlp',
      url: 'http://otel-collector:4318/v1/logs',
      timeout: 5000,
      headers: { 'x-scope-orgid': 'sec', authorization: '${OTLP_LOGS_HEADERS_AUTHORIZATION}' },
    });
    expect(conversion.secrets.find((s) => s.env === 'OTLP_LOGS_HEADERS_AUTHORIZATION')?.value).toBe('Bearer s3cr3t-otlp');
    const status = (key: string) => conversion.lines.find((l) => l.key === key)?.status;
    expect(status('otlp.logs.protocol')).toBe('dropped');
    expect(status('otlp.logs.synced')).toBe('dropped');
    expect(status('opsgenie.region')).toBe('mapped');
    expect(stringify(conversion.config)).not.toContain('s3cr3t');
  });

  it('writes secrets as ${ENV} references and lists them; --inline-secrets writes the values', () => {
    const source = readSidekickSource({ yaml: read('full.yaml') });
    const referenced = convertSidekick(source);
    const text = stringify(referenced.config);
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(referenced.secrets.map((s) => s.env).sort()).toEqual(
      ['ELASTICSEARCH_PASSWORD', 'LOKI_APIKEY', 'PAGERDUTY_ROUTINGKEY', 'SLACK_WEBHOOKURL', 'TEAMS_WEBHOOKURL', 'WEBHOOK_CUSTOMHEADERS_X_API_KEY'],
    );
    const inline = stringify(convertSidekick(source, { inlineSecrets: true }).config);
    for (const s of SECRETS) expect(inline).toContain(s);
  });

  it('the env-var form gives the same config as the file form', () => {
    const fromFile = convertSidekick(readSidekickSource({ yaml: read('full.yaml') }));
    const fromEnv = convertSidekick(readSidekickSource({ env: parseEnvFile(read('full.env')) }));
    expect(fromEnv.config).toEqual(fromFile.config);
    expect(fromEnv.secrets).toEqual(fromFile.secrets);
    // The same typo, in its env spelling, is reported too.
    expect(fromEnv.lines).toContainEqual(expect.objectContaining({ key: 'SLACK_MINIMUMPRIORTY', status: 'unknown' }));
  });

  it('Helm values (falco chart, falcosidekick.config) give the same config as the file; chart-only values are reported', () => {
    const helm = helmValuesToEnv(read('falco-chart-values.yaml'));
    const fromHelm = convertSidekick(readSidekickSource({ env: helm.env, problems: helm.problems }));
    const fromFile = convertSidekick(readSidekickSource({ yaml: read('chat-and-paging.yaml') }));
    expect(fromHelm.config).toEqual(fromFile.config);
    expect(helm.env.SLACK_MINIMUMPRIORITY).toBe('warning');
    expect(fromHelm.lines).toContainEqual(expect.objectContaining({ key: 'config.extraenv', status: 'unknown' }));
    expect(fromHelm.lines.some((l) => l.key === 'config.existingsecret')).toBe(false);
  });

  it('env overrides file, key by key, as in Falcosidekick, and the report names each override', () => {
    const env = { SLACK_MINIMUMPRIORITY: 'error', ALERTMANAGER_HOSTPORT: 'http://am-a:9093,http://am-b:9093', CUSTOMTAGS: 'from-env', PATH: '/usr/bin' };
    const conversion = convertSidekick(readSidekickSource({ yaml: read('full.yaml'), env }));
    const outputs = conversion.config.outputs as Record<string, Record<string, unknown>>;
    expect(outputs.slack).toMatchObject({ minimumPriority: 'error', channel: '#falco-alerts' });
    expect(outputs.alertmanager!.urls).toEqual(['http://am-a:9093/api/v2/alerts', 'http://am-b:9093/api/v2/alerts']);
    expect(conversion.config.customTags).toEqual(['from-env']);
    expect(conversion.overrides).toEqual(
      expect.arrayContaining([
        { key: 'slack.minimumpriority', env: 'SLACK_MINIMUMPRIORITY' },
        { key: 'alertmanager.hostport', env: 'ALERTMANAGER_HOSTPORT' },
        { key: 'customtags', env: 'CUSTOMTAGS' },
      ]),
    );
  });

  it('reports every key it read: unknown, unsupported and ignored ones are named, none silently dropped', () => {
    const yaml = `${read('full.yaml')}\nsyslog:\n  port: "514"\nnotakey: 1\n`;
    const source = readSidekickSource({ yaml });
    const conversion = convertSidekick(source);
    const reported = new Set(conversion.lines.map((l) => l.key));
    for (const key of source.settings.keys()) expect(reported, key).toContain(key);
    const status = (key: string) => conversion.lines.find((l) => l.key === key)?.status;
    expect(status('slack.minimumpriorty')).toBe('unknown');
    expect(status('notakey')).toBe('unknown');
    expect(status('kafka.hostport')).toBe('dropped');
    expect(status('bracketreplacer')).toBe('dropped');
    expect(status('elasticsearch.numberofshards')).toBe('dropped');
    expect(status('syslog.port')).toBe('ignored');
    expect(conversion.outputs).toContainEqual(expect.objectContaining({ section: 'kafka', kind: 'unsupported' }));
  });

  it('CUSTOMFIELDS %VAR becomes a ${VAR} reference; an entry Falcosidekick drops (a second ":") is reported', () => {
    const env = { CUSTOMFIELDS: 'cluster:%CLUSTER_NAME,url:https://x,team:sec', CLUSTER_NAME: 'prod-1' };
    const conversion = convertSidekick(readSidekickSource({ env }));
    expect(conversion.config.customFields).toEqual({ cluster: '${CLUSTER_NAME}', team: 'sec' });
    expect(conversion.lines).toContainEqual(expect.objectContaining({ key: 'CUSTOMFIELDS', message: expect.stringContaining('"url:https://x"') }));
    expect(validateConversion(conversion, env)).toEqual([]);
  });

  it('a templated field with Go logic mustache cannot express is reported, the others converted', () => {
    const yaml = `templatedfields:\n  ok: '{{ .user }}'\n  logic: '{{ if eq (index . "k8s.ns.name") "prod" }}P{{ end }}'\n`;
    const conversion = convertSidekick(readSidekickSource({ yaml }));
    expect(conversion.config.templatedFields).toEqual({ ok: '{{output_fields.user}}' });
    expect(conversion.lines).toContainEqual(expect.objectContaining({ key: 'templatedfields', status: 'note', message: expect.stringContaining('logic:') }));
  });
});

describe('syslog, nats, mqtt and rabbitmq: native outputs', () => {
  const convert = (yaml: string) => {
    const conversion = convertSidekick(readSidekickSource({ yaml }));
    expect(validateConversion(conversion, {})).toEqual([]);
    const outputs = conversion.config.outputs as Record<string, Record<string, unknown>>;
    const lines = (key: string) => conversion.lines.filter((l) => l.key === key);
    const status = (key: string) => lines(key)[0]?.status;
    const notes = (section: string) => lines(section).filter((l) => l.status === 'note').map((l) => l.message).join('\n');
    return { conversion, outputs, status, notes, lines };
  };

  it('none of them is listed as unsupported any more', () => {
    for (const section of ['syslog', 'nats', 'mqtt', 'rabbitmq']) {
      const def = SIDEKICK_OUTPUTS.find((o) => o.section === section);
      expect(def?.mapping.kind, section).toBe('native');
    }
    for (const o of SIDEKICK_OUTPUTS) if (o.mapping.kind === 'unsupported') expect(o.mapping.how, o.section).not.toContain('HTTP only');
  });

  it('syslog: host, port, protocol → url; format json → json; the RFC 5424 change is noted', () => {
    const { outputs, status, notes } = convert('syslog:\n  host: "siem.example.com"\n  port: "1514"\n  protocol: "udp"\n  format: "json"\n  minimumpriority: "warning"');
    expect(outputs.syslog).toEqual({ type: 'syslog', url: 'udp://siem.example.com:1514', format: 'json', minimumPriority: 'warning' });
    for (const k of ['syslog.host', 'syslog.port', 'syslog.protocol', 'syslog.format']) expect(status(k), k).toBe('mapped');
    expect(notes('syslog')).toMatch(/RFC 3164.*RFC 5424/);
  });

  it('syslog: Falcosidekick\'s defaults (tcp, json); cef is dropped with the RFC 5424 structured-data note', () => {
    expect(convert('syslog:\n  host: "10.0.0.5"\n  port: "514"').outputs.syslog).toEqual({ type: 'syslog', url: 'tcp://10.0.0.5:514', format: 'json' });
    const { outputs, lines } = convert('syslog:\n  host: "10.0.0.5"\n  port: "514"\n  format: "cef"');
    expect(outputs.syslog).toEqual({ type: 'syslog', url: 'tcp://10.0.0.5:514' });
    expect(lines('syslog.format')).toEqual([expect.objectContaining({ status: 'dropped', message: expect.stringMatching(/CEF is not supported.*RFC 5424 with structured data/) })]);
  });

  it('nats: hostport → url, subject tokens <priority>/<rule> → {priority}/{rule}, mode core with a jetstream note, checkcert → tls', () => {
    const { outputs, notes, status } = convert('nats:\n  hostport: "nats://nats.messaging:4222"\n  subjecttemplate: "security.<priority>.<rule>.events"\n  checkcert: false');
    expect(outputs.nats).toEqual({ type: 'nats', url: 'nats://nats.messaging:4222', subject: 'security.{priority}.{rule}.events', mode: 'core', tls: { insecureSkipVerify: true } });
    expect(status('nats.subjecttemplate')).toBe('mapped');
    expect(notes('nats')).toMatch(/mode: jetstream.*stream.*Nats-Msg-Id/);
    expect(notes('nats')).toContain("--subjects 'security.>'");
    // Falcosidekick's default subject, a host without a scheme, a server list and credentials in the URL.
    const more = convert('nats:\n  hostport: "falco:s3cr3t-nats@nats-a:4222,nats-b:4222"');
    expect(more.outputs.nats).toEqual({ type: 'nats', url: '${NATS_HOSTPORT}', servers: ['nats://nats-b:4222'], subject: 'falco.{priority}.{rule}', mode: 'core' });
    expect(more.conversion.secrets).toEqual([{ env: 'NATS_HOSTPORT', key: 'nats.hostport', value: 'nats://falco:s3cr3t-nats@nats-a:4222' }]);
    expect(stringify(more.conversion.config)).not.toContain('s3cr3t');
  });

  it('nats: mutualtls → tls from mutualtlsclient.*', () => {
    const { outputs } = convert('mutualtlsfilespath: /etc/certs\nnats:\n  hostport: "tls://nats:4222"\n  mutualtls: true');
    expect(outputs.nats!.tls).toEqual({ cert: '/etc/certs/client.crt', key: '/etc/certs/client.key', ca: '/etc/certs/ca.crt' });
  });

  it('mqtt: broker tcp:// → mqtt://, ssl:// → mqtts://, host:port → mqtt://; topic, user/password as a secret, qos 0 → 1, retained dropped', () => {
    const { outputs, conversion, status, notes, lines } = convert(
      'mqtt:\n  broker: "ssl://broker.example:8883"\n  topic: "sec/falco"\n  qos: 0\n  retained: true\n  user: "falconet"\n  password: "s3cr3t-mqtt"\n  checkcert: false',
    );
    expect(outputs.mqtt).toEqual({ type: 'mqtt', url: 'mqtts://broker.example:8883', username: 'falconet', password: '${MQTT_PASSWORD}', topic: 'sec/falco', tls: { insecureSkipVerify: true } });
    expect(conversion.secrets).toEqual([{ env: 'MQTT_PASSWORD', key: 'mqtt.password', value: 's3cr3t-mqtt' }]);
    expect(stringify(conversion.config)).not.toContain('s3cr3t');
    expect(notes('mqtt')).toMatch(/QoS 1.*PUBACK/);
    expect(lines('mqtt.retained')).toEqual([expect.objectContaining({ status: 'dropped', message: expect.stringContaining('never publishes retained') })]);
    expect(status('mqtt.qos')).toBe('mapped');
    expect(convert('mqtt:\n  broker: "tcp://mosquitto:1883"').outputs.mqtt).toEqual({ type: 'mqtt', url: 'mqtt://mosquitto:1883', topic: 'falco/events' });
    expect(convert('mqtt:\n  broker: "mosquitto:1883"\n  qos: 2').outputs.mqtt).toEqual({ type: 'mqtt', url: 'mqtt://mosquitto:1883', topic: 'falco/events', qos: 2 });
    // checkcert on a plaintext broker: nothing to check, and Falconet refuses tls on mqtt://.
    const plain = convert('mqtt:\n  broker: "tcp://mosquitto:1883"\n  checkcert: false');
    expect(plain.outputs.mqtt!.tls).toBeUndefined();
    expect(plain.status('mqtt.checkcert')).toBe('dropped');
  });

  it('rabbitmq: url credentials → username + password secret, the queue → routing key on the falco exchange, with the binding to make', () => {
    const { outputs, conversion, notes } = convert('rabbitmq:\n  url: "amqp://falco:s3cr3t%2Frabbit@rabbitmq.messaging:5672/security"\n  queue: "falco-events"\n  minimumpriority: "notice"');
    expect(outputs.rabbitmq).toEqual({
      type: 'rabbitmq',
      url: 'amqp://rabbitmq.messaging:5672/security',
      username: 'falco',
      password: '${RABBITMQ_PASSWORD}',
      exchange: 'falco',
      routingKey: 'falco-events',
      minimumPriority: 'notice',
    });
    expect(conversion.secrets).toEqual([{ env: 'RABBITMQ_PASSWORD', key: 'rabbitmq.url', value: 's3cr3t/rabbit' }]);
    expect(stringify(conversion.config)).not.toContain('s3cr3t');
    expect(notes('rabbitmq')).toContain('binding key falco-events');
    expect(notes('rabbitmq')).toMatch(/default exchange/);
    // No credentials, default vhost; a queue name that is no literal routing key gets the # binding.
    const spaced = convert('rabbitmq:\n  url: "amqp://rabbitmq:5672/"\n  queue: "falco events"');
    expect(spaced.outputs.rabbitmq).toEqual({ type: 'rabbitmq', url: 'amqp://rabbitmq:5672/', exchange: 'falco' });
    expect(spaced.notes('rabbitmq')).toContain('binding key #');
  });

  it('--inline-secrets writes the broker credentials as they are', () => {
    const yaml = 'mqtt:\n  broker: "tcp://m:1883"\n  user: "u"\n  password: "s3cr3t-mqtt"\nrabbitmq:\n  url: "amqp://u:s3cr3t-amqp@r:5672/"\n  queue: "q"';
    const inline = convertSidekick(readSidekickSource({ yaml }), { inlineSecrets: true });
    expect(validateConversion(inline, {})).toEqual([]);
    const outputs = inline.config.outputs as Record<string, Record<string, unknown>>;
    expect(outputs.mqtt!.password).toBe('s3cr3t-mqtt');
    expect(outputs.rabbitmq!.password).toBe('s3cr3t-amqp');
  });
});

describe('chat webhooks with a native output (discord, mattermost, googlechat)', () => {
  const yaml = [
    'discord:',
    '  webhookurl: https://discord.com/api/webhooks/123/s3cr3tDiscord',
    '  icon: https://example.com/falco.png',
    '  minimumpriority: error',
    'mattermost:',
    '  webhookurl: https://mm.example.com/hooks/s3cr3tMattermost',
    '  username: Falcosidekick',
    '  icon: https://example.com/falco.png',
    '  footer: by falco',
    '  messageformat: "Alert from {{ .Hostname }}"',
    '  checkcert: false',
    'googlechat:',
    '  webhookurl: https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=s3cr3tGchat',
    '  outputformat: text',
    'webex:',
    '  webhookurl: https://webexapis.com/v1/webhooks/incoming/s3cr3tWebex',
  ].join('\n');

  it('converts them to their native outputs (webex, an incoming webhook, stays a webhook) and the result validates', () => {
    const conversion = convertSidekick(readSidekickSource({ yaml }));
    expect(validateConversion(conversion, {})).toEqual([]);
    const outputs = conversion.config.outputs as Record<string, Record<string, unknown>>;
    expect(outputs.discord).toEqual({ type: 'discord', webhookUrl: '${DISCORD_WEBHOOKURL}', avatarUrl: 'https://example.com/falco.png', minimumPriority: 'error' });
    expect(outputs.mattermost).toEqual({
      type: 'mattermost',
      webhookUrl: '${MATTERMOST_WEBHOOKURL}',
      iconUrl: 'https://example.com/falco.png',
      messageFormat: 'Alert from {{hostname}}',
      tls: { insecureSkipVerify: true },
    });
    expect(outputs.googlechat).toEqual({ type: 'googlechat', webhookUrl: '${GOOGLECHAT_WEBHOOKURL}' });
    expect(outputs.webex).toMatchObject({ type: 'webhook', url: '${WEBEX_WEBHOOKURL}' });
    expect(conversion.secrets.map((s) => s.env).sort()).toEqual(['DISCORD_WEBHOOKURL', 'GOOGLECHAT_WEBHOOKURL', 'MATTERMOST_WEBHOOKURL', 'WEBEX_WEBHOOKURL']);
    const status = (key: string) => conversion.lines.find((l) => l.key === key)?.status;
    expect(status('mattermost.footer')).toBe('dropped');
    expect(conversion.lines.find((l) => l.key === 'googlechat.outputformat')?.status).toBeDefined();
    expect(JSON.stringify(conversion.config)).not.toMatch(/s3cr3t/);
  });
});

describe('tlsserver.*', () => {
  // listen.tls and listen.plain come with inbound TLS (the auth work); without them the keys are reported.
  const hasInboundTls = 'tls' in (rootSchema.shape.listen.unwrap() as unknown as { shape: object }).shape;
  it(hasInboundTls ? 'maps to listen.tls and listen.plain (probe paths only)' : 'is reported as not carried over in a build without inbound TLS', () => {
    const conversion = convertSidekick(readSidekickSource({ yaml: read('mtls-and-tls-server.yaml') }));
    expect(validateConversion(conversion, {})).toEqual([]);
    const status = (key: string) => conversion.lines.find((l) => l.key === key)?.status;
    if (hasInboundTls) {
      expect(conversion.config.listen).toEqual({
        tls: { cert: '/etc/certs/server/server.crt', key: '/etc/certs/server/server.key', ca: '/etc/certs/server/ca.crt', requireClientCert: true },
        plain: { port: 2810, paths: ['/healthz', '/ping'] },
      });
      for (const k of ['tlsserver.deploy', 'tlsserver.mutualtls', 'tlsserver.notlspaths', 'tlsserver.notlsport']) expect(status(k), k).toBe('mapped');
    } else {
      expect(conversion.config.listen).toBeUndefined();
      for (const k of ['tlsserver.deploy', 'tlsserver.mutualtls', 'tlsserver.notlspaths']) expect(status(k), k).toBe('dropped');
    }
  });
});

describe('Go template → mustache', () => {
  it.each([
    ['{{ index . "k8s.ns.name" }}', 'fields', '{{output_fields.k8s.ns.name}}'],
    ['ns={{.user}}!', 'fields', 'ns={{output_fields.user}}!'],
    ['{{ or (index . "k8s.ns.name") "none" }}', 'fields', '{{#output_fields.k8s.ns.name}}{{output_fields.k8s.ns.name}}{{/output_fields.k8s.ns.name}}{{^output_fields.k8s.ns.name}}none{{/output_fields.k8s.ns.name}}'],
    ['{{ .Rule }} on {{ .Hostname }}: {{ index .OutputFields "proc.name" }}', 'event', '{{rule}} on {{hostname}}: {{output_fields.proc.name}}'],
    ['{{ range .Tags }}{{ . }}{{ end }}', 'event', undefined],
    ['{{ .Rule | upper }}', 'event', undefined],
    ['{{ .OutputFields }}', 'event', undefined],
  ] as const)('%s (%s)', (go, data, mustache) => {
    expect(goTemplateToMustache(go, data)).toBe(mustache);
  });
});

describe('the output table', () => {
  it('covers every output section of Falcosidekick\'s configuration', () => {
    const globals = new Set(['mutualtlsfilespath', 'mutualtlsclient', 'tlsclient', 'tlsserver', 'debug', 'listenaddress', 'listenport', 'bracketreplacer', 'outputfieldformat', 'customfields', 'customtags', 'templatedfields']);
    const sections = new Set(SIDEKICK_OUTPUTS.map((o) => o.section));
    const shared = new Set(['aws', 'gcp', 'yandex', 'azure', 'otlp']);
    for (const key of SIDEKICK_KEYS.keys()) {
      const top = key.split('.')[0]!;
      if (globals.has(top)) continue;
      const owner = [...sections].find((s) => key.startsWith(`${s}.`));
      if (!owner) expect(shared.has(top), `${key} belongs to no output of the table`).toBe(true);
    }
    expect(SIDEKICK_OUTPUTS.length).toBeGreaterThanOrEqual(70);
  });

  it('docs/migrating-from-falcosidekick.md lists every output of the table', () => {
    const doc = readFileSync(fileURLToPath(new URL('../../../docs/migrating-from-falcosidekick.md', import.meta.url)), 'utf8');
    for (const o of SIDEKICK_OUTPUTS) expect(doc, o.section).toContain(`| ${o.title} | \`${o.section}\``);
  });
});
