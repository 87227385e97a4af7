/**
 * Every configuration key Falcosidekick reads (HEAD 8807ab7: types/types.go, expanded from
 * types.Configuration; computed fields such as *List are left out), lower-case dotted as viper
 * sees them, with the kind of value. Generated once from the Go structs; an env var counts only
 * when it names one of these keys, as with viper AutomaticEnv.
 */
export type SidekickKeyKind = 'string' | 'bool' | 'number' | 'duration' | 'list' | 'map';

const KEYS_BY_KIND: Record<SidekickKeyKind, string> = {
  string: `
    mutualtlsfilespath mutualtlsclient.certfile mutualtlsclient.keyfile mutualtlsclient.cacertfile tlsclient.cacertfile tlsserver.certfile
    tlsserver.keyfile tlsserver.cacertfile listenaddress bracketreplacer outputfieldformat prometheus.extralabels
    slack.webhookurl slack.channel slack.footer slack.icon slack.username slack.outputformat
    slack.minimumpriority slack.messageformat cliq.webhookurl cliq.icon cliq.outputformat cliq.minimumpriority
    cliq.messageformat mattermost.webhookurl mattermost.footer mattermost.icon mattermost.username mattermost.outputformat
    mattermost.minimumpriority mattermost.messageformat rocketchat.webhookurl rocketchat.footer rocketchat.icon rocketchat.username
    rocketchat.outputformat rocketchat.minimumpriority rocketchat.messageformat teams.webhookurl teams.activityimage teams.outputformat
    teams.minimumpriority webex.webhookurl webex.minimumpriority datadog.apikey datadog.host datadog.minimumpriority
    datadoglogs.apikey datadoglogs.host datadoglogs.minimumpriority datadoglogs.service discord.webhookurl discord.minimumpriority
    discord.icon alertmanager.minimumpriority alertmanager.endpoint alertmanager.dropeventthresholds alertmanager.dropeventdefaultpriority elasticsearch.hostport
    elasticsearch.index elasticsearch.type elasticsearch.pipeline elasticsearch.minimumpriority elasticsearch.suffix elasticsearch.username
    elasticsearch.password elasticsearch.apikey quickwit.hostport quickwit.apiendpoint quickwit.index quickwit.version
    quickwit.minimumpriority influxdb.hostport influxdb.database influxdb.organization influxdb.bucket influxdb.precision
    influxdb.user influxdb.password influxdb.token influxdb.minimumpriority loki.hostport loki.user
    loki.apikey loki.minimumpriority loki.tenant loki.format loki.endpoint loki.extralabels
    sumologic.minimumpriority sumologic.receiverurl sumologic.sourcecategory sumologic.sourcehost sumologic.name nats.hostport
    nats.subjecttemplate nats.minimumpriority stan.hostport stan.clusterid stan.clientid stan.subjecttemplate
    stan.minimumpriority aws.region aws.accesskeyid aws.secretaccesskey aws.rolearn aws.externalid
    aws.lambda.functionname aws.lambda.invocationtype aws.lambda.logtype aws.lambda.minimumpriority aws.sqs.url aws.sqs.minimumpriority
    aws.sns.topicarn aws.sns.minimumpriority aws.s3.prefix aws.s3.bucket aws.s3.minimumpriority aws.s3.endpoint
    aws.s3.objectcannedacl aws.securitylake.bucket aws.securitylake.region aws.securitylake.prefix aws.securitylake.accountid aws.securitylake.minimumpriority
    aws.cloudwatchlogs.loggroup aws.cloudwatchlogs.logstream aws.cloudwatchlogs.minimumpriority aws.kinesis.streamname aws.kinesis.minimumpriority smtp.hostport
    smtp.authmechanism smtp.user smtp.password smtp.token smtp.identity smtp.trace
    smtp.from smtp.to smtp.outputformat smtp.minimumpriority opsgenie.region opsgenie.apikey
    opsgenie.minimumpriority statsd.forwarder statsd.namespace dogstatsd.forwarder dogstatsd.namespace webhook.address
    webhook.method webhook.minimumpriority cloudevents.address cloudevents.minimumpriority azure.eventhub.namespace azure.eventhub.name
    azure.eventhub.minimumpriority gcp.credentials gcp.pubsub.projectid gcp.pubsub.topic gcp.pubsub.minimumpriority gcp.storage.bucket
    gcp.storage.prefix gcp.storage.minimumpriority gcp.cloudfunctions.name gcp.cloudfunctions.minimumpriority gcp.cloudrun.endpoint gcp.cloudrun.jwt
    gcp.cloudrun.minimumpriority gcp.chronicle.minimumpriority gcp.chronicle.region gcp.chronicle.projectid gcp.chronicle.instanceid gcp.chronicle.logtype
    googlechat.webhookurl googlechat.outputformat googlechat.minimumpriority googlechat.messageformat kafka.hostport kafka.topic
    kafka.minimumpriority kafka.sasl kafka.username kafka.password kafka.balancer kafka.clientid
    kafka.compression kafka.requiredacks kafkarest.address kafkarest.minimumpriority pagerduty.routingkey pagerduty.region
    pagerduty.minimumpriority kubeless.namespace kubeless.function kubeless.kubeconfig kubeless.minimumpriority openfaas.gatewaynamespace
    openfaas.gatewayservice openfaas.functionname openfaas.functionnamespace openfaas.kubeconfig openfaas.minimumpriority tekton.eventlistener
    tekton.minimumpriority webui.url policyreport.kubeconfig policyreport.falconamespace policyreport.minimumpriority rabbitmq.url
    rabbitmq.queue rabbitmq.minimumpriority wavefront.endpointtype wavefront.endpointhost wavefront.endpointtoken wavefront.metricname
    wavefront.minimumpriority fission.routernamespace fission.routerservice fission.function fission.kubeconfig fission.minimumpriority
    grafana.hostport grafana.apikey grafana.minimumpriority grafanaoncall.webhookurl grafanaoncall.minimumpriority yandex.accesskeyid
    yandex.secretaccesskey yandex.region yandex.s3.endpoint yandex.s3.prefix yandex.s3.bucket yandex.s3.minimumpriority
    yandex.datastreams.endpoint yandex.datastreams.streamname yandex.datastreams.minimumpriority syslog.host syslog.port syslog.protocol
    syslog.format syslog.minimumpriority nodered.address nodered.user nodered.password nodered.minimumpriority
    mqtt.broker mqtt.topic mqtt.user mqtt.password mqtt.minimumpriority zincsearch.hostport
    zincsearch.index zincsearch.username zincsearch.password zincsearch.minimumpriority gotify.hostport gotify.token
    gotify.format gotify.minimumpriority spyderbat.orguid spyderbat.apikey spyderbat.apiurl spyderbat.source
    spyderbat.sourcedescription spyderbat.minimumpriority timescaledb.host timescaledb.port timescaledb.user timescaledb.password
    timescaledb.database timescaledb.hypertablename timescaledb.minimumpriority redis.address redis.username redis.password
    redis.storagetype redis.key redis.minimumpriority redis.certfile redis.keyfile redis.cacertfile
    telegram.host telegram.token telegram.chatid telegram.minimumpriority telegram.messagethreadid n8n.address
    n8n.user n8n.password n8n.headerauthname n8n.headerauthvalue n8n.minimumpriority openobserve.hostport
    openobserve.organizationname openobserve.streamname openobserve.minimumpriority openobserve.username openobserve.password dynatrace.apitoken
    dynatrace.apiurl dynatrace.minimumpriority otlp.traces.endpoint otlp.traces.protocol otlp.traces.headers otlp.traces.minimumpriority
    otlp.metrics.endpoint otlp.metrics.protocol otlp.metrics.headers otlp.metrics.minimumpriority otlp.metrics.extraattributes otlp.logs.endpoint
    otlp.logs.protocol otlp.logs.headers otlp.logs.minimumpriority talon.address talon.minimumpriority logstash.address
    logstash.minimumpriority logstash.certfile logstash.keyfile logstash.cacertfile splunk.host splunk.token
    splunk.minimumpriority
  `,
  bool: `
    tlsserver.deploy tlsserver.mutualtls debug slack.checkcert slack.mutualtls cliq.checkcert
    cliq.mutualtls cliq.useemoji mattermost.checkcert mattermost.mutualtls rocketchat.checkcert rocketchat.mutualtls
    teams.checkcert teams.mutualtls webex.checkcert webex.mutualtls datadog.checkcert datadog.mutualtls
    datadoglogs.checkcert datadoglogs.mutualtls discord.checkcert discord.mutualtls alertmanager.checkcert alertmanager.mutualtls
    elasticsearch.checkcert elasticsearch.mutualtls elasticsearch.flattenfields elasticsearch.createindextemplate elasticsearch.batching.enabled elasticsearch.enablecompression
    quickwit.checkcert quickwit.mutualtls quickwit.autocreateindex influxdb.checkcert influxdb.mutualtls loki.checkcert
    loki.mutualtls sumologic.checkcert sumologic.mutualtls nats.checkcert nats.mutualtls stan.checkcert
    stan.mutualtls aws.checkidentity aws.sns.rawjson smtp.tls opsgenie.checkcert opsgenie.mutualtls
    webhook.checkcert webhook.mutualtls cloudevents.checkcert cloudevents.mutualtls gcp.workloadidentity googlechat.checkcert
    googlechat.mutualtls kafka.tls kafka.async kafka.topiccreation kafkarest.checkcert kafkarest.mutualtls
    pagerduty.checkcert pagerduty.mutualtls kubeless.checkcert kubeless.mutualtls openfaas.checkcert openfaas.mutualtls
    tekton.checkcert tekton.mutualtls webui.checkcert webui.mutualtls policyreport.enabled policyreport.prunebypriority
    fission.checkcert fission.mutualtls grafana.checkcert grafana.mutualtls grafana.allfieldsastags grafanaoncall.checkcert
    grafanaoncall.mutualtls nodered.checkcert nodered.mutualtls mqtt.retained mqtt.checkcert zincsearch.checkcert
    gotify.checkcert redis.checkcert redis.tls redis.mutualtls telegram.checkcert n8n.checkcert
    openobserve.checkcert openobserve.mutualtls dynatrace.checkcert otlp.traces.synced otlp.traces.tls otlp.traces.checkcert
    otlp.metrics.tls otlp.metrics.checkcert otlp.logs.synced otlp.logs.tls otlp.logs.checkcert talon.checkcert
    logstash.checkcert logstash.tls logstash.mutualtls splunk.checkcert splunk.mutualtls
  `,
  number: `
    tlsserver.notlsport listenport slack.maxconcurrentrequests cliq.maxconcurrentrequests mattermost.maxconcurrentrequests rocketchat.maxconcurrentrequests
    teams.maxconcurrentrequests webex.maxconcurrentrequests datadog.maxconcurrentrequests datadoglogs.maxconcurrentrequests discord.maxconcurrentrequests alertmanager.maxconcurrentrequests
    alertmanager.expiresafter elasticsearch.maxconcurrentrequests elasticsearch.numberofshards elasticsearch.numberofreplicas elasticsearch.batching.batchsize quickwit.maxconcurrentrequests
    influxdb.maxconcurrentrequests loki.maxconcurrentrequests sumologic.maxconcurrentrequests nats.maxconcurrentrequests stan.maxconcurrentrequests aws.securitylake.interval
    aws.securitylake.batchsize opsgenie.maxconcurrentrequests webhook.maxconcurrentrequests cloudevents.maxconcurrentrequests googlechat.maxconcurrentrequests kafkarest.maxconcurrentrequests
    kafkarest.version pagerduty.maxconcurrentrequests kubeless.maxconcurrentrequests kubeless.port openfaas.maxconcurrentrequests openfaas.gatewayport
    tekton.maxconcurrentrequests webui.maxconcurrentrequests policyreport.maxevents wavefront.endpointmetricport wavefront.flushintervalseconds wavefront.batchsize
    fission.maxconcurrentrequests fission.routerport grafana.maxconcurrentrequests grafana.dashboardid grafana.panelid grafanaoncall.maxconcurrentrequests
    nodered.maxconcurrentrequests mqtt.qos redis.database redis.version openobserve.maxconcurrentrequests otlp.traces.timeout
    otlp.traces.duration otlp.metrics.timeout otlp.logs.timeout logstash.port splunk.maxconcurrentrequests
  `,
  list: `
    tlsserver.notlspaths customtags alertmanager.hostport statsd.tags dogstatsd.tags logstash.tags
  `,
  map: `
    customfields templatedfields alertmanager.extralabels alertmanager.extraannotations alertmanager.customseveritymap alertmanager.customheaders
    elasticsearch.customheaders quickwit.customheaders loki.customheaders webhook.customheaders cloudevents.extensions gcp.pubsub.customattributes
    grafana.customheaders grafanaoncall.customheaders nodered.customheaders openobserve.customheaders otlp.traces.extraenvvars otlp.metrics.extraenvvars
    otlp.logs.extraenvvars splunk.customheaders
  `,
  duration: `
    elasticsearch.batching.flushinterval
  `,
};

export const SIDEKICK_KEYS: ReadonlyMap<string, SidekickKeyKind> = new Map(
  Object.entries(KEYS_BY_KIND).flatMap(([kind, list]) =>
    list.split(/\s+/).filter(Boolean).map((key) => [key, kind as SidekickKeyKind] as const),
  ),
);

/** The env var viper reads for a key: upper case, dots to underscores (slack.webhookurl → SLACK_WEBHOOKURL). */
export function envName(key: string): string {
  return key.toUpperCase().replace(/\./g, '_');
}
