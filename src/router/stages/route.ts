import type { Alert } from '../../alert/alert.js';
import { meetsFloor } from '../../alert/priority.js';
import type { OutputInstance } from '../../config/load.js';
import type { CompiledRoute } from '../matcher.js';

/** A compiled route and the `customFields` it stamps on the alerts it matches. */
export type RoutingRoute = CompiledRoute & { customFields?: Readonly<Record<string, string>> };

/**
 * Stage 5: walks the routes in order for each alert; the first match wins unless it says
 * `continue`. Each output named by a matching route receives the alert once, if the alert meets
 * the output's own minimumPriority. Returns alerts grouped by output name.
 *
 * A matching route's `customFields` are written into the alert itself (one object per alert, so
 * every output it reaches sees them, and later `continue` routes can match on them); per-output
 * fields are added at delivery instead (src/delivery/stages/custom-fields.ts).
 */
export function createRouteStage(routes: readonly RoutingRoute[], outputs: Readonly<Record<string, OutputInstance>>) {
  return (alerts: Alert[]): { byOutput: Map<string, Alert[]>; unrouted: number } => {
    const byOutput = new Map<string, Alert[]>();
    let unrouted = 0;
    for (const alert of alerts) {
      const targets = new Set<string>();
      for (const route of routes) {
        if (!route.matches(alert)) continue;
        if (route.customFields) Object.assign(alert.output_fields, route.customFields);
        for (const name of route.outputs) targets.add(name);
        if (!route.continue) break;
      }
      let delivered = false;
      for (const name of targets) {
        const floor = outputs[name]!.config.minimumPriority;
        if (floor && !meetsFloor(alert.priority, floor)) continue;
        let list = byOutput.get(name);
        if (!list) byOutput.set(name, (list = []));
        list.push(alert);
        delivered = true;
      }
      if (!delivered) unrouted++;
    }
    return { byOutput, unrouted };
  };
}
