import { alertField, type Alert } from '../alert/alert.js';
import { displayValue, type JsonValue } from '../alert/json.js';
import { parsePriority, priorityRank } from '../alert/priority.js';
import type { ConfigIssue } from '../config/errors.js';
import type { RouteConfig } from '../config/schema.js';

export type AlertPredicate = (alert: Alert) => boolean;

export interface CompiledRoute {
  name: string;
  outputs: readonly string[];
  continue: boolean;
  matches: AlertPredicate;
}

const TOP_LEVEL_FIELDS = new Set(['rule', 'priority', 'source', 'hostname', 'output', 'tags']);
/** Short names for fields the collector writes from the sender's identity (auth tokens, client certs). */
export const FIELD_ALIASES: Readonly<Record<string, string>> = {
  tenant: 'output_fields.falconet.tenant',
  cluster: 'output_fields.falconet.cluster',
};

/** Compiles the `routes` list into predicates; problems are appended to `issues` with key paths. */
export function compileRoutes(routes: readonly RouteConfig[], issues: ConfigIssue[]): CompiledRoute[] {
  return routes.map((route, i) => {
    const at = ['routes', i];
    const all = route.match ? compileConditions(route.match, [...at, 'match'], issues) : undefined;
    const any = route.match_any?.map((m, j) => compileConditions(m, [...at, 'match_any', j], issues));
    const none = route.not ? compileConditions(route.not, [...at, 'not'], issues) : undefined;
    return {
      name: route.name ?? `routes[${i}]`,
      outputs: route.outputs,
      continue: route.continue,
      matches: (alert) =>
        (all === undefined || all(alert)) &&
        (any === undefined || any.some((p) => p(alert))) &&
        (none === undefined || !none(alert)),
    };
  });
}

type Conditions = Record<string, string | number | boolean | Array<string | number>>;

function compileConditions(conditions: Conditions, at: PropertyKey[], issues: ConfigIssue[]): AlertPredicate {
  const predicates = Object.entries(conditions).map(([name, expected]) => {
    const field = Object.hasOwn(FIELD_ALIASES, name) ? FIELD_ALIASES[name]! : name;
    if (!TOP_LEVEL_FIELDS.has(field) && !field.startsWith('output_fields.')) {
      issues.push({
        path: [...at, name],
        message: 'unknown field; use rule, priority, source, hostname, output, tags, tenant, cluster or output_fields.<key>',
      });
      return () => false;
    }
    return compileCondition(field, expected, [...at, name], issues);
  });
  return (alert) => predicates.every((p) => p(alert));
}

export function compileCondition(
  field: string,
  expected: string | number | boolean | Array<string | number>,
  at: PropertyKey[],
  issues: ConfigIssue[],
): AlertPredicate {
  const values = Array.isArray(expected) ? expected : [expected];
  const tests = values.map((v, i) =>
    compileValueTest(field, String(v), Array.isArray(expected) ? [...at, i] : at, issues),
  );
  const anyValue = (actual: string) => tests.some((t) => t(actual));
  if (field === 'tags') return (alert) => alert.tags.some(anyValue);
  return (alert) => {
    const actual = alertField(alert, field);
    if (actual === undefined || actual === null) return false;
    if (Array.isArray(actual)) return actual.some((item) => anyValue(displayValue(item as JsonValue)));
    return anyValue(displayValue(actual));
  };
}

const PRIORITY_COMPARISON = /^(>=|<=|>|<|==|=)\s*([A-Za-z]+)$/;

function compileValueTest(
  field: string,
  value: string,
  at: PropertyKey[],
  issues: ConfigIssue[],
): (actual: string) => boolean {
  const regex = /^\/(.*)\/([imsu]*)$/s.exec(value);
  if (regex) {
    try {
      const re = new RegExp(regex[1]!, regex[2]);
      return (actual) => re.test(actual);
    } catch (err) {
      issues.push({ path: at, message: `invalid regular expression: ${(err as Error).message}` });
      return () => false;
    }
  }
  if (field === 'priority') {
    const cmp = PRIORITY_COMPARISON.exec(value.trim());
    const priority = parsePriority(cmp ? cmp[2]! : value.trim());
    if (!priority) {
      issues.push({ path: at, message: `"${value}" is not a priority or a comparison like ">=warning"` });
      return () => false;
    }
    const rank = priorityRank(priority);
    // Severity grows as the rank falls (Emergency = 0), so ">=warning" means rank <= rank(Warning).
    const op = cmp ? cmp[1] : '=';
    return (actual) => {
      const p = parsePriority(actual);
      if (!p) return false;
      const r = priorityRank(p);
      if (op === '>=') return r <= rank;
      if (op === '>') return r < rank;
      if (op === '<=') return r >= rank;
      if (op === '<') return r > rank;
      return r === rank;
    };
  }
  return (actual) => actual === value;
}
