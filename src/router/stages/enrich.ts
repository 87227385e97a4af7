import type { Alert } from '../../alert/alert.js';
import { renderTemplate } from '../../../outputs/kit/template.js';

export interface EnrichConfig {
  customFields: Readonly<Record<string, string>>;
  customTags?: readonly string[];
  templatedFields?: Readonly<Record<string, string>>;
}

/**
 * Stage 2, in Falcosidekick's order: `customFields` into output_fields, `customTags` appended to
 * tags, then `templatedFields` rendered (with the message templates' mustache, so they see the
 * custom fields) into output_fields. A custom field overrides a field of the same name from Falco:
 * it is the operator's statement (cluster name, environment), not the node's.
 */
export function createEnrichStage(config: EnrichConfig | Readonly<Record<string, string>>) {
  const { customFields, customTags = [], templatedFields = {} } = isEnrichConfig(config) ? config : { customFields: config };
  const fields = Object.entries(customFields);
  const templates = Object.entries(templatedFields);
  if (fields.length === 0 && customTags.length === 0 && templates.length === 0) return (alerts: Alert[]) => alerts;
  return (alerts: Alert[]): Alert[] => {
    for (const alert of alerts) {
      for (const [k, v] of fields) alert.output_fields[k] = v;
      for (const tag of customTags) if (!alert.tags.includes(tag)) alert.tags.push(tag);
      if (templates.length === 0) continue;
      // Rendered against the alert before any templated field is added, as Falcosidekick does.
      const rendered = templates.map(([k, t]) => [k, renderTemplate(t, alert)] as const);
      for (const [k, v] of rendered) alert.output_fields[k] = v;
    }
    return alerts;
  };
}

function isEnrichConfig(value: EnrichConfig | Readonly<Record<string, string>>): value is EnrichConfig {
  return typeof (value as EnrichConfig).customFields === 'object';
}
