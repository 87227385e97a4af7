import type { Output } from '../../../outputs/kit/types.js';

/**
 * An output's own `customFields` (outputs.<name>.customFields), added to each alert just before
 * this output builds its payload. Here rather than in the router: the router shares one alert
 * object between every output it reaches, while each delivery job parses its own copy, so the
 * fields reach this output only, and no output has to know about them.
 */
export function withCustomFields(output: Output, fields: Readonly<Record<string, string>> | undefined): Output {
  const entries = Object.entries(fields ?? {});
  if (entries.length === 0) return output;
  return {
    send(alerts, ctx) {
      for (const alert of alerts) for (const [k, v] of entries) alert.output_fields[k] = v;
      return output.send(alerts, ctx);
    },
    close: output.close ? () => output.close!() : undefined,
  };
}
