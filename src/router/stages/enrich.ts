import type { Alert } from '../../alert/alert.js';

/**
 * Stage 2: adds `customFields` to every alert's output_fields. A custom field overrides a field of
 * the same name from Falco: it is the operator's statement (cluster name, environment), not the node's.
 */
export function createEnrichStage(customFields: Readonly<Record<string, string>>) {
  const entries = Object.entries(customFields);
  return (alerts: Alert[]): Alert[] => {
    if (entries.length === 0) return alerts;
    for (const alert of alerts) for (const [k, v] of entries) alert.output_fields[k] = v;
    return alerts;
  };
}
