import type { Alert } from '../alert/alert.js';
import { alertField } from '../alert/alert.js';
import { displayValue, type JsonValue } from '../alert/json.js';
import { meetsFloor } from '../alert/priority.js';
import type { ConfigIssue } from '../config/errors.js';
import type { FalconetConfig } from '../config/load.js';
import { describeNoise, noisePolicy } from '../noise/policy.js';
import { FIELD_ALIASES, compileCondition } from './matcher.js';

export interface ConditionResult {
  /** `match`, `match_any[1]` or `not`. */
  group: string;
  field: string;
  expected: unknown;
  actual: JsonValue | undefined;
  holds: boolean;
}

export interface RouteResult {
  index: number;
  name: string;
  /** false when an earlier matching route without `continue` ended the walk. */
  tried: boolean;
  matched: boolean;
  conditions: ConditionResult[];
  outputs: readonly string[];
  continue: boolean;
}

export interface OutputResult {
  name: string;
  type: string;
  reached: boolean;
  reason: string;
  /** Storm control and overflow (outputs.<name>.dedup, overflow) it meets, when reached. */
  noise?: string;
}

export interface RouteExplanation {
  alert: { id: string; rule: string; priority: string; source: string; hostname?: string; time: string };
  minimumPriority: { floor: string; passes: boolean };
  dedup: string;
  routes: RouteResult[];
  outputs: OutputResult[];
  delivered: string[];
}

type Conditions = Record<string, string | number | boolean | Array<string | number>>;

/**
 * `falconet route`: the router's decisions for one (normalised, enriched) alert, with why. It walks
 * the same config the router compiles (routes, priority floors, output floors) and evaluates each
 * condition on its own so that a non-match names the condition that failed. Dedup and storm state
 * live in Redis: this shows the policy an alert would meet, not the current state of its key.
 */
export function explainRoute(config: FalconetConfig, alert: Alert): RouteExplanation {
  const passes = meetsFloor(alert.priority, config.minimumPriority);
  const routes: RouteResult[] = [];
  const targets: string[] = [];
  let ended = false;
  for (const [index, route] of config.routes.entries()) {
    const compiled = config.compiledRoutes[index]!;
    const conditions: ConditionResult[] = [];
    if (route.match) conditions.push(...evaluate('match', route.match, alert));
    route.match_any?.forEach((m, j) => conditions.push(...evaluate(`match_any[${j}]`, m, alert)));
    if (route.not) conditions.push(...evaluate('not', route.not, alert));
    const tried = passes && !ended;
    const matched = tried && compiled.matches(alert);
    routes.push({ index, name: compiled.name, tried, matched, conditions, outputs: compiled.outputs, continue: compiled.continue });
    if (matched) {
      for (const o of compiled.outputs) if (!targets.includes(o)) targets.push(o);
      if (!compiled.continue) ended = true;
    }
  }
  const outputs: OutputResult[] = Object.values(config.outputs).map((instance) => {
    const base = { name: instance.name, type: instance.definition.type };
    if (!passes) return { ...base, reached: false, reason: `alert below minimumPriority ${config.minimumPriority}` };
    if (!targets.includes(instance.name)) return { ...base, reached: false, reason: 'no matching route names it' };
    const floor = instance.config.minimumPriority;
    if (floor && !meetsFloor(alert.priority, floor)) return { ...base, reached: false, reason: `below the output's minimumPriority ${floor}` };
    const policy = noisePolicy(instance);
    return { ...base, reached: true, reason: floor ? `routed; meets the output's minimumPriority ${floor}` : 'routed', noise: policy ? describeNoise(instance) : 'none: every alert is sent as is' };
  });
  return {
    alert: { id: alert.id, rule: alert.rule, priority: alert.priority, source: alert.source, hostname: alert.hostname, time: alert.time },
    minimumPriority: { floor: config.minimumPriority, passes },
    dedup: config.dedup.window > 0 ? `exact duplicates of this event (same id) dropped for ${config.dedup.window / 1000} s` : 'off',
    routes,
    outputs,
    delivered: outputs.filter((o) => o.reached).map((o) => o.name),
  };
}

function evaluate(group: string, conditions: Conditions, alert: Alert): ConditionResult[] {
  return Object.entries(conditions).map(([field, expected]) => {
    const issues: ConfigIssue[] = [];
    const path = Object.hasOwn(FIELD_ALIASES, field) ? FIELD_ALIASES[field]! : field;
    const holds = compileCondition(path, expected, [], issues)(alert);
    const actual = path === 'tags' ? alert.tags : alertField(alert, path);
    return { group, field, expected, actual, holds };
  });
}

/** The explanation as lines for a terminal. */
export function formatExplanation(e: RouteExplanation): string {
  const lines: string[] = [];
  const a = e.alert;
  lines.push(`alert ${a.id}: rule "${a.rule}", priority ${a.priority}, source ${a.source}${a.hostname ? `, host ${a.hostname}` : ''}`);
  lines.push(`minimumPriority ${e.minimumPriority.floor}: ${e.minimumPriority.passes ? 'passes' : 'BELOW: dropped before routing'}`);
  lines.push(`dedup: ${e.dedup}`, '', 'routes (in order; the first match wins unless continue):');
  for (const r of e.routes) {
    const verdict = !r.tried ? 'not tried (an earlier route matched without continue)' : r.matched ? `MATCH -> ${r.outputs.join(', ')}${r.continue ? ' (continue: later routes are tried too)' : ' (no continue: stops here)'}` : 'no match';
    lines.push(`  ${r.index + 1}. ${r.name}: ${verdict}`);
    if (r.conditions.length === 0) lines.push('       no conditions: every alert');
    for (const c of r.conditions) {
      const actual = c.actual === undefined ? 'no such field' : JSON.stringify(c.actual === null ? null : displayOf(c.actual));
      lines.push(`       ${c.group} ${c.field} = ${JSON.stringify(c.expected)}: ${c.holds ? 'holds' : 'fails'} (alert has ${actual})`);
    }
  }
  lines.push('', 'outputs:');
  for (const o of e.outputs) {
    lines.push(`  ${o.name} (${o.type}): ${o.reached ? 'RECEIVES' : 'no'}: ${o.reason}`);
    if (o.noise) lines.push(`      noise: ${o.noise}`);
  }
  lines.push('', `delivered to: ${e.delivered.length ? e.delivered.join(', ') : 'nothing'}`);
  return lines.join('\n');
}

function displayOf(value: JsonValue): unknown {
  return Array.isArray(value) ? value.map((v) => displayValue(v as JsonValue)) : displayValue(value);
}
