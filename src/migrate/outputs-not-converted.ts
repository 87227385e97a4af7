import type { Mapping, SidekickOutput } from './outputs.js';

/**
 * The Falcosidekick outputs the converter does not write: for each, the webhook + body template
 * that reaches the destination by hand, or why Falconet cannot (another protocol, cloud request
 * signing, a Kubernetes API). Part of SIDEKICK_OUTPUTS (outputs.ts).
 */

function unsupported(how: string): Mapping {
  return { kind: 'unsupported', how };
}

const NO_SDK = 'Falconet has no client for this protocol/SDK (its non-HTTP outputs are syslog, NATS, MQTT and RabbitMQ).';

export const NOT_CONVERTED: readonly SidekickOutput[] = [
  { section: 'cloudevents', title: 'CloudEvents (Knative)', enabledBy: ['address'], mapping: unsupported('webhook with bodyTemplate in CloudEvents structured mode: headers {Content-Type: application/cloudevents+json}, body {"specversion":"1.0","id":"{{id}}","source":"falconet","type":"falco.rule.output.v1","time":"{{time}}","data":{{{json}}}}') },
  { section: 'webui', title: 'Falcosidekick-UI', enabledBy: ['url'], mapping: unsupported('not converted: the UI expects Falcosidekick\'s {event, outputs} with a uuid; Falconet keeps undeliverable alerts in its DLQ (falconet dlq) and searchable alerts in Elasticsearch/Loki + Grafana') },
  { section: 'grafanaoncall', title: 'Grafana OnCall', enabledBy: ['webhookurl'], mapping: unsupported('webhook to the OnCall "Formatted webhook" integration URL with bodyTemplate {"alert_uid":"{{id}}","title":"{{priority}}: {{rule}}","message":"{{output}}","state":"alerting"}') },
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
  { section: 'logstash', title: 'Logstash', enabledBy: ['address'], mapping: unsupported('webhook to a Logstash http input (format: ndjson); Falconet has no Beats/TCP protocol') },
  { section: 'statsd', title: 'StatsD', enabledBy: ['forwarder'], mapping: unsupported('not an alert destination: Falconet exposes Prometheus /metrics (metrics.sidekickCompat keeps the falcosecurity_falcosidekick_* names); scrape it or use a statsd exporter') },
  { section: 'dogstatsd', title: 'DogStatsD', enabledBy: ['forwarder'], mapping: unsupported('not an alert destination: the Datadog agent can scrape Falconet\'s Prometheus /metrics (openmetrics check)') },
  { section: 'prometheus', title: 'Prometheus', enabledBy: [], mapping: unsupported('built in: /metrics on the collector and workers; metrics.sidekickCompat: true adds falcosecurity_falcosidekick_inputs_total / _outputs_total. There is no per-rule/per-host falco_events counter (unbounded labels, Falcosidekick #1132); count alerts in Loki/Elasticsearch instead') },
  { section: 'otlp.metrics', title: 'OTLP Metrics', enabledBy: ['endpoint'], mapping: unsupported('scrape /metrics with an OpenTelemetry Collector (prometheus receiver) instead') },
  { section: 'otlp.traces', title: 'OTLP Traces', enabledBy: ['endpoint'], mapping: unsupported(`${NO_SDK} An OpenTelemetry Collector with a webhook-fed HTTP receiver can turn alerts into logs`) },
  { section: 'kafka', title: 'Kafka', enabledBy: ['hostport', 'topic'], mapping: unsupported(`${NO_SDK} Use a Kafka REST proxy (see kafkarest) or Kafka Connect's HTTP source`) },
  { section: 'stan', title: 'NATS Streaming (STAN)', enabledBy: ['hostport', 'clusterid', 'clientid'], mapping: unsupported(`${NO_SDK} STAN is deprecated upstream`) },
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
