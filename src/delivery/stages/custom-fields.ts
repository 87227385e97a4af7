import type { Output } from '../../../outputs/kit/types.js';

/**
 * An output's own `customFields` (outputs.<name>.customFields), added to each alert just before
 * this output builds its payload, on copies of the alerts: the router shares one alert object
 * between every output it sends a first attempt to, so the fields reach this output only, and no
 * output has to know about them.
 */
export function withCustomFields(output: Output, fields: Readonly<Record<string, string>> | undefined): Output {
  const entries = Object.entries(fields ?? {});
  if (entries.length === 0) return output;
  return {
    send(alerts, ctx) {
      // Copies: a first attempt from the router hands every output the same alert object.
      const extra = Object.fromEntries(entries);
      return output.send(alerts.map((alert) => ({ ...alert, output_fields: { ...alert.output_fields, ...extra } })), ctx);
    },
    close: output.close ? () => output.close!() : undefined,
  };
}
