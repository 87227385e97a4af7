import { goTemplateToMustache } from './go-template.js';
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

function unsupported(how: string): Mapping {
  return { kind: 'unsupported', how };
}

const NO_SDK = 'Falconet speaks HTTP only; it has no client for this protocol/SDK.';

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
  // ---- via webhook, converted ----
  { section: 'mattermost', title: 'Mattermost', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"text": "${CHAT_TEXT}"}`) },
  { section: 'rocketchat', title: 'Rocket.Chat', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"text": "${CHAT_TEXT}"}`) },
  { section: 'googlechat', title: 'Google Chat', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"text": "${CHAT_TEXT}"}`) },
  { section: 'discord', title: 'Discord', enabledBy: ['webhookurl'], mapping: chatViaWebhook('webhookurl', `{"content": "${CHAT_TEXT}"}`) },
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
  { section: 'talon', title: 'Falco Talon', enabledBy: ['address'], mapping: eventJson('address') },
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
  // ---- not converted ----
  { section: 'cloudevents', title: 'CloudEvents (Knative)', enabledBy: ['address'], mapping: unsupported('webhook with bodyTemplate in CloudEvents structured mode: headers {Content-Type: application/cloudevents+json}, body {"specversion":"1.0","id":"{{id}}","source":"falconet","type":"falco.rule.output.v1","time":"{{time}}","data":{{{json}}}}') },
  { section: 'webui', title: 'Falcosidekick-UI', enabledBy: ['url'], mapping: unsupported('not converted: the UI expects Falcosidekick\'s {event, outputs} with a uuid; Falconet keeps undeliverable alerts in its DLQ (falconet dlq) and searchable alerts in Elasticsearch/Loki + Grafana') },
  { section: 'grafanaoncall', title: 'Grafana OnCall', enabledBy: ['webhookurl'], mapping: unsupported('webhook to the OnCall "Formatted webhook" integration URL with bodyTemplate {"alert_uid":"{{id}}","title":"{{priority}}: {{rule}}","message":"{{output}}","state":"alerting"}') },
  { section: 'opsgenie', title: 'Opsgenie', enabledBy: ['apikey'], mapping: unsupported('webhook to https://api.opsgenie.com/v2/alerts (api.eu.opsgenie.com for eu) with headers {Authorization: "GenieKey ${OPSGENIE_APIKEY}"} and bodyTemplate {"message":"{{rule}}","description":"{{output}}","alias":"{{id}}","priority":"P3","source":"falconet"}; the priority mapping P1..P5 needs one route per priority band') },
  { section: 'datadog', title: 'Datadog (events)', enabledBy: ['apikey'], mapping: unsupported('webhook to <host>/api/v1/events with headers {DD-API-KEY: "${DATADOG_APIKEY}"} and bodyTemplate {"title":"{{rule}}","text":"{{output}}","alert_type":"warning","source_type_name":"falco","tags":["{{tags}}"]}') },
  { section: 'datadoglogs', title: 'Datadog Logs', enabledBy: ['apikey'], mapping: unsupported('webhook to <host>/api/v2/logs with headers {DD-API-KEY: "${DATADOGLOGS_APIKEY}"} and bodyTemplate [{"ddsource":"falco","service":"falco","hostname":"{{hostname}}","message":{{{json}}}}]') },
  { section: 'influxdb', title: 'InfluxDB', enabledBy: ['hostport'], mapping: unsupported('webhook to <hostport>/api/v2/write?org=…&bucket=…&precision=ns with headers {Authorization: "Token ${INFLUXDB_TOKEN}", Content-Type: text/plain} and a line-protocol bodyTemplate (events,rule=…,priority=… value=1); quoting Falco text into line protocol by hand is fragile') },
  { section: 'quickwit', title: 'Quickwit', enabledBy: ['hostport'], mapping: unsupported('webhook with format: ndjson and batch: to <hostport>/api/v1/<index>/ingest (the alert JSON per line); index creation is left to Quickwit') },
  { section: 'openobserve', title: 'OpenObserve', enabledBy: ['hostport'], mapping: unsupported('webhook with batch: to <hostport>/api/<org>/<stream>/_json with auth {username, password}: the alert JSON array is what it ingests') },
  { section: 'zincsearch', title: 'ZincSearch', enabledBy: ['hostport'], mapping: unsupported('webhook to <hostport>/api/<index>/_doc with auth {username, password}: the alert JSON is the document') },
  { section: 'grafana', title: 'Grafana annotations', enabledBy: ['hostport', 'apikey'], mapping: unsupported('webhook to <hostport>/api/annotations with headers {Authorization: "Bearer ${GRAFANA_APIKEY}"} and bodyTemplate {"dashboardId":<id>,"panelId":<id>,"text":"{{output}}","tags":["falco","{{priority}}","{{rule}}"]}; the event time as epoch ms is not available to templates, Grafana then uses now') },
  { section: 'gotify', title: 'Gotify', enabledBy: ['hostport'], mapping: unsupported('webhook to <hostport>/message?token=${GOTIFY_TOKEN} with bodyTemplate {"title":"{{priority}}: {{rule}}","message":"{{output}}","priority":5}') },
  { section: 'spyderbat', title: 'Spyderbat', enabledBy: ['orguid'], mapping: unsupported('not converted: Spyderbat\'s ingestion API wants its own event schema (and a source created through its API first); a webhook template would have to rebuild it by hand') },
  { section: 'dynatrace', title: 'Dynatrace', enabledBy: ['apitoken', 'apiurl'], mapping: unsupported('webhook with format: ndjson to <apiurl>/v2/logs/ingest with headers {Authorization: "Api-Token ${DYNATRACE_APITOKEN}"}; Falcosidekick reshapes fields to Dynatrace semantic attributes, a template can do the same') },
  { section: 'kafkarest', title: 'Kafka REST proxy', enabledBy: ['address'], mapping: unsupported('webhook to <address> (…/topics/<topic>) with headers {Content-Type: application/vnd.kafka.json.v2+json} and bodyTemplate {"records":[{"value":{{{json}}}}]}') },
  { section: 'openfaas', title: 'OpenFaaS', enabledBy: ['functionname'], mapping: unsupported('webhook to http://<gatewayservice>.<gatewaynamespace>:<gatewayport>/function/<functionname>.<functionnamespace> (the alert JSON); Falconet does not read kubeconfig to find the gateway') },
  { section: 'fission', title: 'Fission', enabledBy: ['function'], mapping: unsupported('webhook to http://<routerservice>.<routernamespace>:<routerport>/fission-function/<function> (the alert JSON)') },
  { section: 'kubeless', title: 'Kubeless', enabledBy: ['namespace', 'function'], mapping: unsupported('not converted: Kubeless is archived upstream; if a function still runs, a webhook to http://<function>.<namespace>:<port>/ works') },
  { section: 'gcp.cloudrun', title: 'GCP Cloud Run', enabledBy: ['endpoint', 'jwt'], mapping: unsupported('webhook to <endpoint> with auth {bearer: "${GCP_CLOUDRUN_JWT}"}: the alert JSON, as Falcosidekick posts the event') },
  { section: 'smtp', title: 'SMTP (email)', enabledBy: ['hostport', 'from', 'to'], mapping: unsupported(`${NO_SDK} Mail through an HTTP mail API (SendGrid, Mailgun, SES via API Gateway) with a webhook template, or through Alertmanager's email receiver`) },
  { section: 'syslog', title: 'Syslog', enabledBy: ['host'], mapping: unsupported(`${NO_SDK} Run a log shipper (Vector, Fluent Bit) with an HTTP source and a syslog sink, fed by a webhook with format: ndjson`) },
  { section: 'logstash', title: 'Logstash', enabledBy: ['address'], mapping: unsupported('webhook to a Logstash http input (format: ndjson); Falconet has no Beats/TCP protocol') },
  { section: 'statsd', title: 'StatsD', enabledBy: ['forwarder'], mapping: unsupported('not an alert destination: Falconet exposes Prometheus /metrics (metrics.sidekickCompat keeps the falcosecurity_falcosidekick_* names); scrape it or use a statsd exporter') },
  { section: 'dogstatsd', title: 'DogStatsD', enabledBy: ['forwarder'], mapping: unsupported('not an alert destination: the Datadog agent can scrape Falconet\'s Prometheus /metrics (openmetrics check)') },
  { section: 'prometheus', title: 'Prometheus', enabledBy: [], mapping: unsupported('built in: /metrics on the collector and workers; metrics.sidekickCompat: true adds falcosecurity_falcosidekick_inputs_total / _outputs_total. There is no per-rule/per-host falco_events counter (unbounded labels, Falcosidekick #1132); count alerts in Loki/Elasticsearch instead') },
  { section: 'otlp.metrics', title: 'OTLP Metrics', enabledBy: ['endpoint'], mapping: unsupported('scrape /metrics with an OpenTelemetry Collector (prometheus receiver) instead') },
  { section: 'otlp.traces', title: 'OTLP Traces', enabledBy: ['endpoint'], mapping: unsupported(`${NO_SDK} An OpenTelemetry Collector with a webhook-fed HTTP receiver can turn alerts into logs`) },
  { section: 'otlp.logs', title: 'OTLP Logs', enabledBy: ['endpoint'], mapping: unsupported('webhook to an OpenTelemetry Collector\'s HTTP JSON endpoint (/v1/logs) with a bodyTemplate building resourceLogs, or to Loki/Elasticsearch directly') },
  { section: 'kafka', title: 'Kafka', enabledBy: ['hostport', 'topic'], mapping: unsupported(`${NO_SDK} Use a Kafka REST proxy (see kafkarest) or Kafka Connect's HTTP source`) },
  { section: 'nats', title: 'NATS', enabledBy: ['hostport'], mapping: unsupported(NO_SDK) },
  { section: 'stan', title: 'NATS Streaming (STAN)', enabledBy: ['hostport', 'clusterid', 'clientid'], mapping: unsupported(`${NO_SDK} STAN is deprecated upstream`) },
  { section: 'rabbitmq', title: 'RabbitMQ', enabledBy: ['url', 'queue'], mapping: unsupported(`${NO_SDK} The RabbitMQ management HTTP API (/api/exchanges/<vhost>/amq.default/publish) works with a webhook template, but it is not meant for production publishing`) },
  { section: 'mqtt', title: 'MQTT', enabledBy: ['broker'], mapping: unsupported(NO_SDK) },
  { section: 'redis', title: 'Redis', enabledBy: ['address'], mapping: unsupported(`${NO_SDK} (Falconet's own Redis holds queues, not an alert list)`) },
  { section: 'timescaledb', title: 'TimescaleDB', enabledBy: ['host'], mapping: unsupported(`${NO_SDK} A PostgREST endpoint in front of the hypertable takes a webhook`) },
  { section: 'wavefront', title: 'Wavefront', enabledBy: ['endpointtype', 'endpointhost'], mapping: unsupported('webhook to the Wavefront proxy\'s HTTP port with a bodyTemplate in Wavefront data format; not converted automatically') },
  { section: 'aws.lambda', title: 'AWS Lambda', enabledBy: ['functionname'], mapping: unsupported('webhook to a Lambda function URL (auth type NONE + a secret header, or IAM via a signing proxy); Falconet does not sign AWS SigV4 requests') },
  { section: 'aws.sqs', title: 'AWS SQS', enabledBy: ['url'], mapping: unsupported('AWS APIs need SigV4 signing, which Falconet does not do; put an API Gateway SQS integration in front and use a webhook') },
  { section: 'aws.sns', title: 'AWS SNS', enabledBy: ['topicarn'], mapping: unsupported('AWS APIs need SigV4 signing; an API Gateway SNS integration with a webhook works') },
  { section: 'aws.cloudwatchlogs', title: 'AWS CloudWatch Logs', enabledBy: ['loggroup'], mapping: unsupported('AWS APIs need SigV4 signing; use a log shipper or an API Gateway integration fed by a webhook') },
  { section: 'aws.s3', title: 'AWS S3', enabledBy: ['bucket'], mapping: unsupported('AWS APIs need SigV4 signing; archive through Elasticsearch/Loki, or a shipper (Vector) with an HTTP source and an S3 sink') },
  { section: 'aws.kinesis', title: 'AWS Kinesis', enabledBy: ['streamname'], mapping: unsupported('AWS APIs need SigV4 signing; Kinesis Data Firehose HTTP endpoint delivery goes the other way; use an API Gateway integration fed by a webhook') },
  { section: 'aws.securitylake', title: 'AWS Security Lake', enabledBy: ['bucket', 'region', 'accountid', 'prefix'], mapping: unsupported('needs OCSF Parquet files written to S3 with SigV4: not supported') },
  { section: 'gcp.pubsub', title: 'GCP Pub/Sub', enabledBy: ['projectid', 'topic'], mapping: unsupported('not supported: publishing (https://pubsub.googleapis.com/v1/projects/<p>/topics/<t>:publish) needs an OAuth access token that expires hourly, and Falconet has no Google auth') },
  { section: 'gcp.storage', title: 'GCP Storage', enabledBy: ['bucket'], mapping: unsupported('needs Google auth: not supported') },
  { section: 'gcp.cloudfunctions', title: 'GCP Cloud Functions', enabledBy: ['name'], mapping: unsupported('webhook to the function\'s HTTPS trigger URL (allow unauthenticated, or put auth in a header)') },
  { section: 'gcp.chronicle', title: 'Google SecOps (Chronicle)', enabledBy: ['projectid', 'instanceid', 'region'], mapping: unsupported('needs Google auth: not supported') },
  { section: 'azure.eventhub', title: 'Azure Event Hubs', enabledBy: ['name'], mapping: unsupported('webhook to https://<namespace>.servicebus.windows.net/<hub>/messages with headers {Authorization: "${AZURE_SAS_TOKEN}"} (a SAS token you generate with a long expiry)') },
  { section: 'yandex.s3', title: 'Yandex S3', enabledBy: ['bucket'], mapping: unsupported('S3 SigV4 signing: not supported') },
  { section: 'yandex.datastreams', title: 'Yandex Data Streams', enabledBy: ['streamname'], mapping: unsupported('Kinesis-compatible API with SigV4 signing: not supported') },
  { section: 'policyreport', title: 'Kubernetes PolicyReport', enabledBy: ['enabled'], mapping: unsupported('not supported: Falconet does not write to the Kubernetes API; a small controller fed by a webhook can') },
];

export function sidekickOutput(section: string): SidekickOutput | undefined {
  return SIDEKICK_OUTPUTS.find((o) => o.section === section);
}
