import type { Identity } from '../auth/identity.js';
import { FilterError, parsePriorityFilter, type AlertFilter } from './query.js';

/**
 * What the requester may see. A token or certificate with a `tenant` sees that tenant's alerts
 * (the collector stamped output_fields["falconet.tenant"] from the sender's identity); one with
 * only `namespaces` sees alerts of those namespaces; one with neither (and an open collector) all.
 */
export interface Scope {
  tenant?: string;
  namespaces?: Identity['namespaces'];
  /** The per-minute counters it may read: '*' (all), a tenant, or none. */
  stats?: string;
}

export function scopeOf(identity: Identity | undefined): Scope {
  if (!identity) return { stats: '*' };
  if (identity.tenant !== undefined) return { tenant: identity.tenant, namespaces: identity.namespaces, stats: identity.tenant };
  if (identity.namespaces) return { namespaces: identity.namespaces };
  return { stats: '*' };
}

export function visible(scope: Scope, alert: { tenant?: string; namespace?: string }): boolean {
  if (scope.tenant !== undefined && alert.tenant !== scope.tenant) return false;
  if (scope.namespaces && (alert.namespace === undefined || !scope.namespaces.allows(alert.namespace))) return false;
  return true;
}

const LIST_PARAMS = ['rule', 'source', 'hostname', 'namespace', 'tenant', 'tag'] as const;

/** Query parameters to a filter, narrowed to the scope. A parameter given twice means any of them. */
export function filterFromQuery(query: Record<string, string | string[] | undefined>, scope: Scope): AlertFilter {
  const all = (name: string): string[] | undefined => {
    const v = query[name];
    if (v === undefined) return undefined;
    const list = (Array.isArray(v) ? v : [v]).filter((x) => x !== '');
    return list.length > 0 ? list : undefined;
  };
  const one = (name: string): string | undefined => {
    const list = all(name);
    if (list && list.length > 1) throw new FilterError(`"${name}" is given more than once`);
    return list?.[0];
  };
  const filter: AlertFilter = {};
  const priority = all('priority');
  if (priority) filter.priority = [...new Set(priority.flatMap(parsePriorityFilter))];
  for (const name of LIST_PARAMS) {
    const values = all(name);
    if (values) filter[name] = values;
  }
  const q = one('q');
  if (q !== undefined) filter.q = q;
  for (const name of ['since', 'until'] as const) {
    const raw = one(name);
    if (raw === undefined) continue;
    const at = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
    if (!Number.isFinite(at)) throw new FilterError(`"${name}" is not a time: "${raw}" (RFC 3339 or epoch milliseconds)`);
    filter[name] = at;
  }
  if (scope.tenant !== undefined) {
    // A tenant asking for another tenant's alerts gets none, not an error that confirms it exists.
    filter.tenant = filter.tenant && !filter.tenant.includes(scope.tenant) ? ['\x00none'] : [scope.tenant];
  }
  if (scope.namespaces) filter.namespaces = scope.namespaces;
  return filter;
}
