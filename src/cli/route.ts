import { readFileSync } from 'node:fs';
import { BadAlertError, decodeAlerts } from '../collector/decode.js';
import type { FalconetConfig } from '../config/load.js';
import { explainRoute, formatExplanation } from '../router/explain.js';
import { createEnrichStage } from '../router/stages/enrich.js';
import { normalise } from '../router/stages/normalise.js';

/**
 * `falconet route --config F [--output-json] < alert.json`: which outputs one alert (or each line
 * of NDJSON) reaches and why. The alert is read and normalised exactly as the collector and router do.
 */
export function runRouteCommand(config: FalconetConfig, opts: { json: boolean; input?: string }): number {
  const text = opts.input ?? readFileSync(0, 'utf8');
  let raw;
  try {
    raw = decodeAlerts(text, isOneJsonDocument(text) ? 'application/json' : 'application/x-ndjson', Date.now());
  } catch (err) {
    if (!(err instanceof BadAlertError)) throw err;
    console.error(`falconet route: not a Falco alert: ${err.detail}`);
    return 1;
  }
  const alerts = createEnrichStage(config.customFields)(normalise(raw));
  const explained = alerts.map((a) => explainRoute(config, a));
  if (opts.json) console.log(JSON.stringify(explained.length === 1 ? explained[0] : explained, null, 2));
  else console.log(explained.map(formatExplanation).join('\n\n'));
  return 0;
}

/** A (pretty-printed) object or array is one document; anything else is read as NDJSON lines. */
function isOneJsonDocument(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
