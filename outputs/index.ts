import type { OutputDefinition } from './kit/types.js';
import { alertmanagerOutput } from './alertmanager/index.js';
import { discordOutput } from './discord/index.js';
import { elasticsearchOutput } from './elasticsearch/index.js';
import { googlechatOutput } from './googlechat/index.js';
import { lokiOutput } from './loki/index.js';
import { mattermostOutput } from './mattermost/index.js';
import { natsOutput } from './nats/index.js';
import { opsgenieOutput } from './opsgenie/index.js';
import { otlpOutput } from './otlp/index.js';
import { mqttOutput } from './mqtt/index.js';
import { pagerdutyOutput } from './pagerduty/index.js';
import { rabbitmqOutput } from './rabbitmq/index.js';
import { slackOutput } from './slack/index.js';
import { splunkOutput } from './splunk/index.js';
import { stdoutOutput } from './stdout/index.js';
import { talonOutput } from './talon/index.js';
import { syslogOutput } from './syslog/index.js';
import { teamsOutput } from './teams/index.js';
import { webexOutput } from './webex/index.js';
import { webhookOutput } from './webhook/index.js';

/** Every output type Falconet knows. Adding one: a folder under outputs/ and a line here. */
export const OUTPUT_DEFINITIONS: readonly OutputDefinition[] = [
  stdoutOutput,
  webhookOutput,
  alertmanagerOutput,
  pagerdutyOutput,
  slackOutput,
  splunkOutput,
  teamsOutput,
  elasticsearchOutput,
  lokiOutput,
  natsOutput,
  discordOutput,
  mattermostOutput,
  googlechatOutput,
  webexOutput,
  opsgenieOutput,
  talonOutput,
  otlpOutput,
  rabbitmqOutput,
  syslogOutput,
  mqttOutput,
];

const BY_TYPE = new Map<string, OutputDefinition>();
for (const def of OUTPUT_DEFINITIONS) {
  if (BY_TYPE.has(def.type)) throw new Error(`output type "${def.type}" is registered twice`);
  BY_TYPE.set(def.type, def);
}

export function outputDefinition(type: string): OutputDefinition | undefined {
  return BY_TYPE.get(type);
}

export function outputTypes(): string[] {
  return [...BY_TYPE.keys()].sort();
}
