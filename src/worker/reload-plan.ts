import type { FalconetConfig } from '../config/load.js';

/** What a new config changes for a running worker. */
export interface ReloadPlan {
  added: string[];
  removed: string[];
  /** Outputs whose settings changed: their delivery worker is replaced, their queue kept. */
  changed: string[];
  /** Keys a running process cannot change; they take effect at the next start. */
  needsRestart: string[];
}

/** Keys of the config read once at start-up (connections, ports, pool sizes, metric label sets, auth identities; certificate files are re-read on SIGHUP by the collector's server). */
const START_UP_KEYS = ['listen', 'redis', 'router', 'worker', 'spool', 'metrics', 'auth'] as const;

export function planReload(current: FalconetConfig, next: FalconetConfig): ReloadPlan {
  const before = current.outputs;
  const after = next.outputs;
  const same = (name: string) =>
    before[name]!.definition === after[name]!.definition && JSON.stringify(before[name]!.config) === JSON.stringify(after[name]!.config);
  return {
    added: Object.keys(after).filter((n) => !(n in before)),
    removed: Object.keys(before).filter((n) => !(n in after)),
    changed: Object.keys(after).filter((n) => n in before && !same(n)),
    needsRestart: START_UP_KEYS.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k])),
  };
}
