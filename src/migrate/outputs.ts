import { checkKeyTemplate } from '../../outputs/kit/key-template.js';
import { ROUTING_KEY_SYNTAX } from '../../outputs/rabbitmq/payload.js';
import { goTemplateToMustache } from './go-template.js';
import { NOT_CONVERTED } from './outputs-not-converted.js';
import type { SettingValue } from './source.js';

/**
 * Every Falcosidekick output (README + types.Configuration, HEAD 8807ab7) and what becomes of it
 * in Falconet, as data: a native Falconet output with a key mapping, a `webhook` with a body
 * template, or nothing, with the reason. docs/migrating-from-falcosidekick.md is this table in
 * prose; a test checks that both list the same outputs.
 */

export interface OutputMapContext {
  /** The value of `<section>.<key>`; the key counts as carried over. */
  take(key: string, to?: string): SettingValue | undefined;
  str(key: string): string | undefined;
  /** A secret: written as a `${ENV}` reference (listed in the report) unless --inline-secrets. */
  secret(key: string, to?: string): string | undefined;
  /** `value` holds a secret that did not come from one key (a header, a URL built from a token). */
  secretValue(value: string, envVar: string, key: string): string;
  /** The key has no equivalent: reported with why. */
  drop(key: string, why: string): void;
  note(message: string): void;
  /** Keys of the global customfields and templatedfields (Falcosidekick makes them Loki/Alertmanager labels). */
  enrichmentKeys: readonly string[];
}

export type Mapping =
  /** A Falconet output instance (type + options; the common keys are added by the converter). */
  | { kind: 'native'; type: string; map(ctx: OutputMapContext): Record<string, unknown> }
  /** Converted to a `webhook` whose body template speaks the destination's API. */
  | { kind: 'webhook'; map(ctx: OutputMapContext): Record<string, unknown> }
  /** Not converted; `how` says what to do instead (a webhook example, or why there is none). */
  | { kind: 'unsupported'; how: string };

export interface SidekickOutput {
  /** Config section (dotted for nested ones: aws.sqs). */
  section: string;
  title: string;
  /** The keys that must all be set for Falcosidekick to enable the output (main.go). */
  enabledBy: string[];
  mapping: Mapping;
}

const SIDEKICK_DEFAULT_TEMPLATE_NOTE = 'Falconet renders its own default message';

/** Slack-style `messageformat` (Go template over the event) to Falconet's mustache `messageFormat`. */
function messageFormat(ctx: OutputMapContext, out: Record<string, unknown>): void {
  const format = ctx.take('messageformat', 'messageFormat') as string | undefined;
  if (format === undefined) return;
  const mustache = goTemplateToMustache(format, 'event');
  if (mustache === undefined) ctx.drop('messageformat', `this Go template uses more than field references and \`or\`; rewrite it in mustache (docs/outputs/templates.md); ${SIDEKICK_DEFAULT_TEMPLATE_NOTE} meanwhile`);
  else out.messageFormat = mustache;
}

/** Falcosidekick's `icon` (an image URL) as the Falconet key `to`, when it is an http(s) URL. */
function iconUrl(ctx: OutputMapContext, to: string): string | undefined {
  const icon = ctx.str('icon');
  if (icon === undefined) return undefined;
  if (/^https?:\/\//.test(icon)) return ctx.take('icon', to) as string;
  ctx.take('icon');
  ctx.drop('icon', `"${icon}" is not an http(s) URL`);
  return undefined;
}

function cosmetic(ctx: OutputMapContext, keys: string[]): void {
  for (const k of keys) if (ctx.take(k) !== undefined) ctx.drop(k, 'cosmetic: Falconet uses its own');
}

/** A JSON body for chat webhooks: message text from `{{priority}}`, `{{rule}}` and `{{output}}`. */
const CHAT_TEXT = '{{priority}}: {{rule}}\\n{{output}}';

function chatViaWebhook(urlKey: string, body: string): Mapping {
  return {
    kind: 'webhook',
    map(ctx) {
      cosmetic(ctx, ['icon', 'footer', 'username', 'useemoji', 'outputformat']);
      if (ctx.take('messageformat') !== undefined) ctx.drop('messageformat', 'edit the bodyTemplate instead (mustache, docs/outputs/webhook.md)');
      return { url: ctx.secret(urlKey, 'url'), bodyTemplate: body };
    },
  };
}

/** Falcosidekick posts the event JSON to these; Falconet's webhook posts the alert JSON (same keys, `id` for `uuid`). */
function eventJson(urlKey: string, extra?: (ctx: OutputMapContext, out: Record<string, unknown>) => void): Mapping {
  return {
    kind: 'webhook',
    map(ctx) {
      const out: Record<string, unknown> = { url: urlSecret(ctx, urlKey) };
      extra?.(ctx, out);
      return out;
    },
  };
}

/** A URL is a secret when it carries credentials (user:pass@ or a query string). */
function urlSecret(ctx: OutputMapContext, key: string): string | undefined {
  const url = ctx.str(key);
  if (url === undefined) return undefined;
  return /^[a-z]+:\/\/[^/]*@|\?/.test(url) ? ctx.secret(key, 'url') : (ctx.take(key, 'url') as string);
}

function basic(ctx: OutputMapContext, userKey: string, passKey: string, out: Record<string, unknown>): void {
  const user = ctx.str(userKey);
  const pass = ctx.secret(passKey);
  if (user !== undefined && ctx.take(userKey) !== undefined && pass !== undefined) out.auth = { username: user, password: pass };
  else if (user !== undefined || pass !== undefined) ctx.drop(user ? passKey : userKey, 'basic auth needs both user and password');
}

/** Header values that look like credentials are secrets; others are written as they are. */
function headers(ctx: OutputMapContext, key: string, section: string): Record<string, string> | undefined {
  const map = ctx.take(key, 'headers') as Record<string, string> | undefined;
  if (!map) return undefined;
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(map)) {
    const envVar = `${section.toUpperCase().replace(/\./g, '_')}_CUSTOMHEADERS_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
    out[name] = /auth|token|key|secret|cookie|pass/i.test(name) ? ctx.secretValue(value, envVar, `${section}.${key}.${name}`) : value;
  }
  return out;
}

export const SIDEKICK_OUTPUTS: readonly SidekickOutput[] = [
  // ---- native ----
  {
    section: 'slack',
    title: 'Slack',
    enabledBy: ['webhookurl'],
    mapping: {
      kind: 'native',
      type: 'slack',
      map(ctx) {
        const out: Record<string, unknown> = { webhookUrl: ctx.secret('webhookurl', 'webhookUrl') };
        const channel = ctx.str('channel');
        if (channel !== undefined) out.channel = ctx.take('channel', 'channel');
        const username = ctx.str('username');
        if (username !== undefined && ctx.take('username', 'username') !== undefined && username !== 'Falcosidekick') out.username = username;
        const format = ctx.str('outputformat');
        if (format !== undefined) {
          if (['all', 'text', 'fields'].includes(format)) out.outputFormat = ctx.take('outputformat', 'outputFormat');
          else ctx.drop('outputformat', `"${format}" is not all, text or fields`);
        }
        messageFormat(ctx, out);
        cosmetic(ctx, ['icon', 'footer']);
        return out;
      },
    },
  },
  {
    section: 'teams',
    title: 'Microsoft Teams',
    enabledBy: ['webhookurl'],
    mapping: {
      kind: 'native',
      type: 'teams',
      map(ctx) {
        ctx.note('format: messagecard, the legacy connector card Falcosidekick sends; for a Workflows webhook URL switch to format: adaptive');
        const format = ctx.str('outputformat');
        if (format !== undefined && ctx.take('outputformat') !== undefined && format !== 'all') {
          ctx.note(`outputformat ${format}: Falconet's Teams card always shows text and facts (not carried over)`);
        }
        cosmetic(ctx, ['activityimage']);
        return { webhookUrl: ctx.secret('webhookurl', 'webhookUrl'), format: 'messagecard' };
      },
    },
  },
  {
    section: 'alertmanager',
    title: 'Alertmanager',
    enabledBy: ['hostport'],
    mapping: {
      kind: 'native',
      type: 'alertmanager',
      map(ctx) {
        const hosts = ctx.take('hostport', 'urls') as string[];
        const endpoint = ctx.str('endpoint') ?? '/api/v2/alerts';
        if (ctx.take('endpoint', 'urls') !== undefined && endpoint.replace(/\/+$/, '') === '/api/v1/alerts') {
          ctx.note('endpoint /api/v1/alerts: Falconet posts API v2 (/api/v2/alerts); Alertmanager ≥ 0.16 serves it (v1 was removed in 0.27)');
        }
        const path = endpoint.replace(/\/+$/, '') === '/api/v1/alerts' ? '/api/v2/alerts' : endpoint;
        const urls = hosts.map((h) => `${h.replace(/\/+$/, '')}${path}`);
        const out: Record<string, unknown> = { urls: urls.map((u, i) => (/^[a-z]+:\/\/[^/]*@/.test(u) ? ctx.secretValue(u, `ALERTMANAGER_HOSTPORT_${i}`, 'alertmanager.hostport') : u)) };
        const expires = ctx.take('expiresafter', 'expiresAfter') as number | undefined;
        if (expires !== undefined && expires > 0) out.expiresAfter = `${expires}s`;
        else ctx.note('expiresafter unset: Falcosidekick sends no endsAt (Alertmanager resolves after its resolve_timeout, 5m); Falconet sets endsAt = event time + 10m (expiresAfter)');
        const extraLabels = ctx.take('extralabels', 'extraLabels');
        if (extraLabels) out.extraLabels = extraLabels;
        const severity = ctx.take('customseveritymap', 'severityMap');
        if (severity) out.severityMap = severity;
        const h = headers(ctx, 'customheaders', 'alertmanager');
        if (h) out.headers = h;
        if (ctx.take('extraannotations') !== undefined) ctx.drop('extraannotations', 'Falconet sets the annotations itself (summary, description, runbook fields); extra annotations are not supported');
        for (const k of ['dropeventthresholds', 'dropeventdefaultpriority']) {
          if (ctx.take(k) !== undefined) ctx.drop(k, 'Falconet does not re-prioritise "syscall event drop" alerts by n_drop thresholds; route them with a match on rule instead');
        }
        if (ctx.enrichmentKeys.length > 0) out.labelFields = [...ctx.enrichmentKeys];
        ctx.note('labels: Falconet sends a bounded set (alertname = the rule, priority, severity, eventsource, source, hostname, k8s_ns_name, k8s_pod_name + extraLabels) instead of every output field plus rule and tags, so Alertmanager can group repeats; Alertmanager routes matching rule= must match alertname=, and fields to keep as labels go in labelFields');
        return out;
      },
    },
  },
  {
    section: 'pagerduty',
    title: 'PagerDuty',
    enabledBy: ['routingkey'],
    mapping: {
      kind: 'native',
      type: 'pagerduty',
      map(ctx) {
        const out: Record<string, unknown> = { routingKey: ctx.secret('routingkey', 'routingKey') };
        const region = ctx.str('region');
        if (region !== undefined && ctx.take('region', 'region') !== undefined) out.region = region.toLowerCase() === 'eu' ? 'eu' : 'us';
        ctx.note('severity: Falcosidekick always sends "critical"; Falconet maps the priority (critical/error/warning/info); set severityMap to keep all critical');
        return out;
      },
    },
  },
  {
    section: 'opsgenie',
    title: 'Opsgenie',
    enabledBy: ['apikey'],
    mapping: {
      kind: 'native',
      type: 'opsgenie',
      map(ctx) {
        const out: Record<string, unknown> = { apiKey: ctx.secret('apikey', 'apiKey') };
        const region = ctx.str('region');
        if (region !== undefined && ctx.take('region', 'region') !== undefined) out.region = region.toLowerCase() === 'eu' ? 'eu' : 'us';
        ctx.note('alias: Falconet sends a stable alias (rule, host, container, command line: dedupKey), so repeats count on one open Opsgenie alert where Falcosidekick opened a new one each time; message is "[priority] rule on host", the output text is the description; priorities P1..P5 as Falcosidekick maps them');
        return out;
      },
    },
  },
  {
    section: 'talon',
    title: 'Falco Talon',
    enabledBy: ['address'],
    mapping: {
      kind: 'native',
      type: 'talon',
      map(ctx) {
        ctx.note('body: the event JSON Falcosidekick posts (uuid, output, priority, rule, time, output_fields, source, tags, hostname), with Falconet\'s alert id as uuid');
        return { url: urlSecret(ctx, 'address') };
      },
    },
  },
  {
    section: 'otlp.logs',
    title: 'OTLP Logs',
    enabledBy: ['endpoint'],
    mapping: {
      kind: 'native',
      type: 'otlp',
      map(ctx) {
        const out: Record<string, unknown> = { url: urlSecret(ctx, 'endpoint') };
        const protocol = ctx.str('protocol');
        if (protocol !== undefined && ctx.take('protocol') !== undefined) {
          if (/grpc/i.test(protocol)) ctx.drop('protocol', 'Falconet speaks OTLP/HTTP (JSON) only: point url at the receiver\'s HTTP port (4318) instead of gRPC (4317)');
          else if (protocol !== 'http/json') ctx.note(`protocol ${protocol}: Falconet sends OTLP/HTTP in the JSON encoding, which OTLP/HTTP receivers accept alongside protobuf`);
        }
        const raw = ctx.take('headers', 'headers');
        if (typeof raw === 'string' && raw.trim() !== '') {
          const h: Record<string, string> = {};
          for (const pair of raw.split(',')) {
            const at = pair.indexOf('=');
            if (at <= 0) continue;
            const name = pair.slice(0, at).trim();
            let value = pair.slice(at + 1).trim();
            try {
              value = decodeURIComponent(value);
            } catch {
              // Not percent-encoded after all: kept as written.
            }
            const envVar = `OTLP_LOGS_HEADERS_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
            h[name] = /auth|token|key|secret|cookie|pass/i.test(name) ? ctx.secretValue(value, envVar, `otlp.logs.headers.${name}`) : value;
          }
          if (Object.keys(h).length > 0) out.headers = h;
        }
        const timeout = ctx.take('timeout', 'timeout');
        if (timeout !== undefined && timeout !== '' && Number(timeout) > 0) out.timeout = Number(timeout);
        if (ctx.take('tls') !== undefined) ctx.drop('tls', 'the url\'s scheme decides: https:// for TLS');
        if (ctx.take('synced') !== undefined) ctx.drop('synced', 'Falconet always waits for the receiver\'s answer before a batch counts as delivered');
        if (ctx.take('extraenvvars') !== undefined) ctx.drop('extraenvvars', 'OTEL_* variables are not read: set headers, timeout and resource on the output');
        ctx.note('records: severity from the priority, Falco\'s event time, output fields as typed attributes, service.name=falco (resource); Falcosidekick sent INFO with its own clock and no output fields');
        return out;
      },
    },
  },
  {
    section: 'syslog',
    title: 'Syslog',
    enabledBy: ['host'],
    mapping: {
      kind: 'native',
      type: 'syslog',
      map(ctx) {
        const host = ctx.take('host', 'url') as string;
        const raw = ctx.str('protocol');
        let protocol = 'tcp';
        if (raw !== undefined && ctx.take('protocol', 'url') !== undefined) {
          if (/^(tcp|udp)$/i.test(raw)) protocol = raw.toLowerCase();
          else ctx.note(`protocol "${raw}" is not tcp or udp: Falcosidekick falls back to tcp, and so does url`);
        }
        const port = ctx.str('port');
        ctx.take('port', 'url');
        const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
        const out: Record<string, unknown> = { url: `${protocol}://${hostPart}${port ? `:${port}` : ''}` };
        if (!port) ctx.note('port unset: Falconet uses syslog\'s 514');
        const format = ctx.str('format');
        if (format !== undefined) ctx.take('format', 'format');
        if (format !== undefined && format.toLowerCase() === 'cef') {
          ctx.drop('format', 'CEF is not supported: Falconet sends RFC 5424 with structured data (rule, priority, source, namespace, pod, alert_id) and Falco\'s output text as MSG; format: json puts the whole alert in MSG');
        } else {
          // json is Falcosidekick's default.
          if (format !== undefined && format !== '' && format.toLowerCase() !== 'json') ctx.note(`format "${format}" is not json or cef: written as format: json (the whole alert in MSG)`);
          out.format = 'json';
        }
        ctx.note('records: Falcosidekick sent an RFC 3164-style line (<PRI>timestamp host Falco[pid]: MSG, facility kern, newline-framed over TCP); Falconet sends RFC 5424 (facility local0, structured data, octet-counted over TCP): the receiver must accept RFC 5424 and, over TCP, octet-counting framing (rsyslog imtcp and syslog-ng\'s syslog() source do)');
        return out;
      },
    },
  },
  {
    section: 'nats',
    title: 'NATS',
    enabledBy: ['hostport'],
    mapping: {
      kind: 'native',
      type: 'nats',
      map(ctx) {
        // nats.go takes a comma-separated list of servers, with or without a scheme.
        const urls = (ctx.str('hostport') as string).split(',').map((h) => h.trim()).filter(Boolean).map((h) => {
          const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(h) ? h : `nats://${h}`;
          if (/^(nats|tls):\/\//i.test(url)) return url;
          ctx.note(`hostport ${url.split('://')[0]}://…: Falconet connects over nats:// or tls:// only (no WebSocket), written as nats://`);
          return url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, 'nats://');
        });
        ctx.take('hostport', 'url');
        const secretUrl = (url: string, i: number) => (/^[a-z]+:\/\/[^/]*@/i.test(url) ? ctx.secretValue(url, i === 0 ? 'NATS_HOSTPORT' : `NATS_HOSTPORT_${i}`, 'nats.hostport') : url);
        const out: Record<string, unknown> = { url: secretUrl(urls[0]!, 0) };
        if (urls.length > 1) out.servers = urls.slice(1).map((u, i) => secretUrl(u, i + 1));
        const template = ctx.str('subjecttemplate') || 'falco.<priority>.<rule>';
        ctx.take('subjecttemplate', 'subject');
        const subject = template.replace(/<priority>/g, '{priority}').replace(/<rule>/g, '{rule}');
        out.subject = subject;
        out.mode = 'core';
        const first = subject.split('.')[0]!;
        const subjects = /[{}]/.test(first) || !subject.includes('.') ? subject.replace(/\{[^}]*\}/g, '*') : `${first}.>`;
        ctx.note(`mode: core, what Falcosidekick does (plain publish, no stream needed, at most once); for confirmed delivery create a stream over the subjects (nats stream add FALCO --subjects '${subjects}') and set mode: jetstream (and stream: FALCO), which also drops retried duplicates by Nats-Msg-Id`);
        return out;
      },
    },
  },
  {
    section: 'mqtt',
    title: 'MQTT',
    enabledBy: ['broker'],
    mapping: {
      kind: 'native',
      type: 'mqtt',
      map(ctx) {
        const broker = ctx.str('broker') as string;
        ctx.take('broker', 'url');
        const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(broker)?.[1]?.toLowerCase();
        const rest = scheme === undefined ? broker : broker.slice(scheme.length + 3);
        const tls = scheme !== undefined && ['ssl', 'tls', 'mqtts', 'wss', 'tcps'].includes(scheme);
        if (scheme !== undefined && !['tcp', 'mqtt', 'ssl', 'tls', 'mqtts'].includes(scheme)) {
          ctx.note(`broker scheme ${scheme}://: Falconet speaks MQTT over TCP (mqtt://) or TLS (mqtts://) only, no WebSocket; point url at the broker's MQTT listener (1883, or 8883 for TLS)`);
        }
        const url = `${tls ? 'mqtts' : 'mqtt'}://${rest}`;
        const out: Record<string, unknown> = { url: /^[a-z]+:\/\/[^/]*@/i.test(url) ? ctx.secretValue(url, 'MQTT_BROKER', 'mqtt.broker') : url };
        const user = ctx.str('user');
        if (user !== undefined && user !== '') out.username = ctx.take('user', 'username');
        const password = ctx.secret('password', 'password');
        if (password !== undefined) out.password = password;
        out.topic = (ctx.take('topic', 'topic') as string | undefined) || 'falco/events';
        const qos = ctx.take('qos', 'qos');
        if (Number(qos) === 2) out.qos = 2;
        else if (qos === undefined || Number(qos) !== 1) {
          ctx.note(`qos ${qos === undefined ? '0 (Falcosidekick\'s default)' : String(qos)}: Falconet publishes at QoS 1 (qos: 0 is refused), because an alert counts as delivered only once the broker's PUBACK confirms it`);
        }
        const retained = ctx.take('retained');
        if (retained === true) ctx.drop('retained', 'Falconet never publishes retained messages: a retained alert would be replayed to every new subscriber as if it had just happened');
        return out;
      },
    },
  },
  {
    section: 'rabbitmq',
    title: 'RabbitMQ',
    enabledBy: ['url', 'queue'],
    mapping: {
      kind: 'native',
      type: 'rabbitmq',
      map(ctx) {
        const raw = ctx.str('url') as string;
        ctx.take('url', 'url');
        const out: Record<string, unknown> = {};
        let parsed: URL | undefined;
        try {
          parsed = new URL(raw);
        } catch {
          parsed = undefined;
        }
        if (!parsed) {
          out.url = /@/.test(raw) ? ctx.secretValue(raw, 'RABBITMQ_URL', 'rabbitmq.url') : raw;
        } else {
          // Credentials out of the URL: username as is, password as a secret (RabbitMQ docs: keep it out of the URL).
          const username = parsed.username ? decodeURIComponent(parsed.username) : undefined;
          const password = parsed.password ? decodeURIComponent(parsed.password) : undefined;
          const heartbeat = parsed.searchParams.get('heartbeat');
          if (heartbeat !== null && /^\d+$/.test(heartbeat)) out.heartbeat = `${heartbeat}s`;
          const others = [...parsed.searchParams.keys()].filter((k) => k !== 'heartbeat');
          if (others.length > 0) ctx.note(`url query parameters ${others.join(', ')} are not read by Falconet (TLS files go in tls:, the rest has no equivalent); not carried over`);
          // The path is the vhost, kept as written (percent-encoded, %2F for /).
          out.url = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
          if (username !== undefined) out.username = username;
          if (password !== undefined) out.password = ctx.secretValue(password, 'RABBITMQ_PASSWORD', 'rabbitmq.url');
        }
        const queue = ctx.take('queue', 'routingKey') as string;
        out.exchange = 'falco';
        let literal = true;
        try {
          checkKeyTemplate(queue, ROUTING_KEY_SYNTAX);
          if (/[{}]/.test(queue) || Buffer.byteLength(queue) > 255) literal = false;
        } catch {
          literal = false;
        }
        if (literal) {
          out.routingKey = queue;
          ctx.note(`queue "${queue}": Falcosidekick publishes to the default exchange with routing key "${queue}", which needs no binding; Falconet's output publishes to a named exchange (the default exchange cannot be addressed), here the durable topic exchange falco that it declares at connect, with routing key "${queue}". Bind the queue once: exchange falco → queue ${queue}, binding key ${queue} (e.g. rabbitmqadmin declare binding source=falco destination=${queue} routing_key=${queue}, or in a definitions file). Until it is bound, mandatory publishes come back and the alerts are retried, not lost`);
        } else {
          ctx.note(`queue "${queue}" is not usable as a literal routing key (spaces, *, #, braces or empty levels): routingKey stays falco.{priority}.{rule}; bind the queue to the exchange falco with binding key # (e.g. rabbitmqadmin declare binding source=falco destination=<queue> routing_key=#). Until it is bound, mandatory publishes come back and the alerts are retried, not lost`);
        }
        ctx.note('messages: persistent, with publisher confirms and the alert id as message_id (Falcosidekick: text/plain, non-persistent, unconfirmed); the body is the alert JSON');
        return out;
      },
    },
  },
  {
    section: 'elasticsearch',
    title: 'Elasticsearch',
    enabledBy: ['hostport'],
    mapping: {
      kind: 'native',
      type: 'elasticsearch',
      map(ctx) {
        const out: Record<string, unknown> = { url: urlSecret(ctx, 'hostport') };
        const index = ctx.str('index') ?? 'falco';
        ctx.take('index', 'index');
        const suffix = (ctx.take('suffix', 'index') as string | undefined) ?? 'daily';
        const pattern: Record<string, string> = { daily: '-%Y.%m.%d', monthly: '-%Y.%m', annually: '-%Y', none: '' };
        if (!(suffix in pattern)) ctx.drop('suffix', `"${suffix}" is not daily, monthly, annually or none`);
        out.index = `${index}${pattern[suffix] ?? pattern.daily}`;
        const apiKey = ctx.secret('apikey', 'apiKey');
        if (apiKey !== undefined) out.apiKey = apiKey;
        const user = ctx.str('username');
        if (user !== undefined) {
          out.username = ctx.take('username', 'username');
          const password = ctx.secret('password', 'password');
          if (password !== undefined) out.password = password;
        }
        for (const k of ['batching.enabled', 'batching.batchsize', 'batching.flushinterval', 'enablecompression']) {
          if (ctx.take(k) !== undefined) ctx.note(`${k}: Falconet always uses _bulk (batch of 500 or 1 s; set batch: to tune)`);
        }
        if (ctx.take('type') !== undefined) ctx.note('type: mapping types are gone since Elasticsearch 7; Falconet writes _doc');
        for (const k of ['pipeline', 'flattenfields', 'createindextemplate', 'numberofshards', 'numberofreplicas', 'customheaders']) {
          if (ctx.take(k) !== undefined) ctx.drop(k, k === 'customheaders' ? 'Falconet\'s Elasticsearch output sends only Authorization (apiKey or username/password); put other headers on a proxy' : 'index management is left to an index template or ILM policy in Elasticsearch');
        }
        return out;
      },
    },
  },
  {
    section: 'loki',
    title: 'Grafana Loki',
    enabledBy: ['hostport'],
    mapping: {
      kind: 'native',
      type: 'loki',
      map(ctx) {
        const out: Record<string, unknown> = { url: urlSecret(ctx, 'hostport') };
        const endpoint = ctx.take('endpoint') as string | undefined;
        if (endpoint !== undefined && endpoint !== '/loki/api/v1/push') {
          ctx.drop('endpoint', `Falconet always pushes to <url>/loki/api/v1/push; a gateway path must be put in url (was ${endpoint})`);
        }
        const tenant = ctx.take('tenant', 'tenant');
        if (tenant !== undefined) out.tenant = tenant;
        const user = ctx.str('user');
        if (user !== undefined) {
          out.username = ctx.take('user', 'username');
          const key = ctx.secret('apikey', 'password');
          if (key !== undefined) out.password = key;
        }
        // Falcosidekick's stream labels: these, the custom and templated fields, then extralabels.
        const extra = (ctx.take('extralabels', 'labels') as string | undefined)?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
        const labels = [...new Set(['source', 'priority', 'rule', 'hostname', 'tags', 'k8s_ns_name', 'k8s_pod_name', ...ctx.enrichmentKeys, ...extra])];
        if (labels.length > 15) ctx.note(`labels: Loki takes 15 per stream; left out: ${labels.slice(15).join(', ')}`);
        out.labels = labels.slice(0, 15);
        const format = ctx.take('format');
        if (format !== undefined && format !== 'json') ctx.note(`format ${String(format)}: Falconet's log line is the alert JSON (the output text is its "output" key; | json in LogQL)`);
        if (ctx.take('customheaders') !== undefined) ctx.drop('customheaders', 'Falconet\'s Loki output sends X-Scope-OrgID (tenant) and basic auth only; put other headers on a proxy');
        return out;
      },
    },
  },
  {
    section: 'splunk',
    title: 'Splunk HEC',
    enabledBy: ['host'],
    mapping: {
      kind: 'native',
      type: 'splunk',
      map(ctx) {
        const out: Record<string, unknown> = { url: urlSecret(ctx, 'host'), token: ctx.secret('token', 'token') };
        if (ctx.take('customheaders') !== undefined) ctx.drop('customheaders', 'Falconet\'s Splunk output sends only the HEC Authorization header');
        return out;
      },
    },
  },
  {
    section: 'webhook',
    title: 'Webhook',
    enabledBy: ['address'],
    mapping: {
      kind: 'native',
      type: 'webhook',
      map(ctx) {
        const out: Record<string, unknown> = { url: urlSecret(ctx, 'address') };
        const method = ctx.str('method');
        if (method !== undefined && ctx.take('method', 'method') !== undefined) out.method = method.toUpperCase() === 'PUT' ? 'PUT' : 'POST';
        const h = headers(ctx, 'customheaders', 'webhook');
        if (h) out.headers = h;
        ctx.note('body: the alert JSON with Falco\'s keys (output, priority, rule, time, output_fields, source, tags, hostname) and `id` where Falcosidekick sends `uuid`');
        return out;
      },
    },
  },
  {
    section: 'mattermost',
    title: 'Mattermost',
    enabledBy: ['webhookurl'],
    mapping: {
      kind: 'native',
      type: 'mattermost',
      map(ctx) {
        const out: Record<string, unknown> = { webhookUrl: ctx.secret('webhookurl', 'webhookUrl') };
        const username = ctx.str('username');
        if (username !== undefined && ctx.take('username', 'username') !== undefined && username !== 'Falcosidekick') out.username = username;
        const icon = iconUrl(ctx, 'iconUrl');
        if (icon !== undefined) out.iconUrl = icon;
        const format = ctx.str('outputformat');
        if (format !== undefined && ctx.take('outputformat') !== undefined && format !== 'all') {
          ctx.note(`outputformat ${format}: Falconet's Mattermost attachment always shows the output and the fields (not carried over)`);
        }
        messageFormat(ctx, out);
        cosmetic(ctx, ['footer']);
        return out;
      },
    },
  },
  {
    section: 'googlechat',
    title: 'Google Chat',
    enabledBy: ['webhookurl'],
    mapping: {
      kind: 'native',
      type: 'googlechat',
      map(ctx) {
        const out: Record<string, unknown> = { webhookUrl: ctx.secret('webhookurl', 'webhookUrl') };
        const format = ctx.str('outputformat');
        if (format !== undefined && ctx.take('outputformat') !== undefined && format !== 'all') {
          ctx.note(`outputformat ${format}: Falconet's Google Chat card always shows the output and the fields (not carried over)`);
        }
        messageFormat(ctx, out);
        ctx.note('threads: Falconet posts each rule\'s alerts in one thread of the space (threadKey {{rule}}); threading: false posts every alert as its own thread, as Falcosidekick does');
        return out;
      },
    },
  },
  {
    section: 'discord',
    title: 'Discord',
    enabledBy: ['webhookurl'],
    mapping: {
      kind: 'native',
      type: 'discord',
      map(ctx) {
        const out: Record<string, unknown> = { webhookUrl: ctx.secret('webhookurl', 'webhookUrl') };
        const icon = iconUrl(ctx, 'avatarUrl');
        if (icon !== undefined) out.avatarUrl = icon;
        return out;
      },
    },
  },
  // ---- via webhook, converted ----
  { section: 'rocketchat', title: 'Rocket.Chat', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"text": "${CHAT_TEXT}"}`) },
  { section: 'webex', title: 'Webex', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"markdown": "**${CHAT_TEXT.replace('\\n', '**\\n')}"}`) },
  { section: 'cliq', title: 'Zoho Cliq', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"text": "${CHAT_TEXT}"}`) },
  {
    section: 'telegram',
    title: 'Telegram',
    enabledBy: ['token', 'chatid'],
    mapping: {
      kind: 'webhook',
      map(ctx) {
        const host = ((ctx.take('host') as string | undefined) ?? 'https://api.telegram.org').replace(/\/+$/, '');
        const token = ctx.secret('token');
        const chat = ctx.take('chatid') as string;
        const thread = ctx.take('messagethreadid') as string | undefined;
        const threadPart = thread ? `, "message_thread_id": ${JSON.stringify(thread)}` : '';
        return { url: `${host}/bot${token}/sendMessage`, bodyTemplate: `{"chat_id": ${JSON.stringify(chat)}${threadPart}, "text": "${CHAT_TEXT}"}` };
      },
    },
  },
  {
    section: 'nodered',
    title: 'Node-RED',
    enabledBy: ['address'],
    mapping: eventJson('address', (ctx, out) => {
      basic(ctx, 'user', 'password', out);
      const h = headers(ctx, 'customheaders', 'nodered');
      if (h) out.headers = h;
    }),
  },
  {
    section: 'n8n',
    title: 'n8n',
    enabledBy: ['address'],
    mapping: eventJson('address', (ctx, out) => {
      basic(ctx, 'user', 'password', out);
      const name = ctx.str('headerauthname');
      if (name !== undefined && ctx.take('headerauthname') !== undefined) {
        const value = ctx.secret('headerauthvalue');
        if (value !== undefined) out.headers = { [name]: value };
      }
    }),
  },
  { section: 'tekton', title: 'Tekton (EventListener)', enabledBy: ['eventlistener'], mapping: eventJson('eventlistener') },
  {
    section: 'sumologic',
    title: 'Sumo Logic',
    enabledBy: ['receiverurl'],
    mapping: {
      kind: 'webhook',
      map(ctx) {
        const h: Record<string, string> = {};
        const names: Record<string, string> = { sourcecategory: 'X-Sumo-Category', sourcehost: 'X-Sumo-Host', name: 'X-Sumo-Name' };
        for (const [k, header] of Object.entries(names)) {
          const v = ctx.take(k);
          if (v !== undefined) h[header] = String(v);
        }
        return { url: ctx.secret('receiverurl'), ...(Object.keys(h).length ? { headers: h } : {}) };
      },
    },
  },
  ...NOT_CONVERTED,
];

export function sidekickOutput(section: string): SidekickOutput | undefined {
  return SIDEKICK_OUTPUTS.find((o) => o.section === section);
}
