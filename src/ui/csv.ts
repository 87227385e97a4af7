import type { Alert } from '../alert/alert.js';
import { indexValues } from './store.js';

const COLUMNS = ['time', 'priority', 'rule', 'source', 'hostname', 'namespace', 'tenant', 'tags', 'output', 'id'] as const;

export function csvHeader(): string {
  return `${COLUMNS.join(',')}\r\n`;
}

/** RFC 4180; a cell a spreadsheet would run as a formula (=, +, @) is prefixed with ' (OWASP CSV injection). */
export function csvLine(alert: Alert): string {
  const v = indexValues(alert);
  const cells = [alert.time, alert.priority, alert.rule, alert.source, alert.hostname ?? '', v.namespace[0] ?? '', v.tenant[0] ?? '', alert.tags.join(' '), alert.output ?? '', alert.id];
  return `${cells.map(cell).join(',')}\r\n`;
}

function cell(value: string): string {
  const safe = /^[=+@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
