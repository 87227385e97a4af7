import type { Alert } from '../../../src/alert/alert.js';
import { buildConfig, type FalconetConfig } from '../../../src/config/load.js';

let n = 0;

/** A normalised alert for stage tests; every field can be overridden. */
export function makeAlert(over: Partial<Alert> = {}): Alert {
  n++;
  return {
    id: `id-${n}`,
    rule: 'Terminal shell in container',
    priority: 'Notice',
    time: '2025-06-12T08:00:00.123456789Z',
    source: 'syscall',
    hostname: 'node-1',
    tags: ['container', 'shell'],
    output_fields: {},
    ...over,
  };
}

/** A validated config from a document (no env substitution surprises). */
export function configOf(doc: Record<string, unknown>): FalconetConfig {
  return buildConfig(doc, {});
}
