import type { Alert } from '../../alert/alert.js';
import { meetsFloor } from '../../alert/priority.js';
import type { OutputInstance } from '../../config/load.js';
import type { CompiledRoute } from '../matcher.js';

/**
 * Stage 5: walks the routes in order for each alert; the first match wins unless it says
 * `continue`. Each output named by a matching route receives the alert once, if the alert meets
 * the output's own minimumPriority. Returns alerts grouped by output name.
 */
export function createRouteStage(routes: readonly CompiledRoute[], outputs: Readonly<Record<string, OutputInstance>>) {
  return (alerts: Alert[]): { byOutput: Map<string, Alert[]>; unrouted: number } => {
    const byOutput = new Map<string, Alert[]>();
    let unrouted = 0;
    for (const alert of alerts) {
      const targets = new Set<string>();
      for (const route of routes) {
        if (!route.matches(alert)) continue;
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
