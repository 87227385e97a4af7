import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';

/**
 * The event as Falcosidekick posts it to Talon (`types.FalcoPayload`): Falco's keys in
 * Falcosidekick's order, `uuid` first, `tags` and `hostname` left out when empty (Go `omitempty`).
 * Talon decodes it with `json.Decoder.UseNumber`, so big integers (`evt.time`) are written exactly.
 * `uuid` carries Falconet's alert id: Talon does not read it, a human following an event does.
 */
export function buildTalonEvent(alert: Alert): string {
  const event: Record<string, unknown> = {
    uuid: alert.id,
    output: alert.output ?? alert.message ?? '',
    priority: alert.priority,
    rule: alert.rule,
    time: alert.time,
    output_fields: alert.output_fields,
    source: alert.source,
  };
  if (alert.tags.length > 0) event.tags = alert.tags;
  if (alert.hostname) event.hostname = alert.hostname;
  return stringifyJson(event);
}
