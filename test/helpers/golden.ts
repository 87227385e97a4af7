import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expect } from 'vitest';
import type { Alert } from '../../src/alert/alert.js';
import { alertId } from '../../src/collector/decode.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { fixtureAlertLines } from './fixtures.js';

/**
 * Fixture alerts covering every shape payload builders must handle, as the router hands them to
 * outputs (normalised, id = content hash), keyed by what each one exercises.
 */
export function goldenAlerts(): Record<'syscall' | 'k8s_audit' | 'plugin' | 'unicode' | 'internal' | 'null_field', Alert> {
  const lines = fixtureAlertLines();
  const pick = (i: number): Alert => normalise([[alertId(lines[i]!), lines[i]!]])[0]!;
  return { syscall: pick(8), k8s_audit: pick(7), plugin: pick(0), unicode: pick(3), internal: pick(24), null_field: pick(11) };
}

/**
 * Compares `actual` with the golden file byte for byte. `UPDATE_GOLDEN=1` (re)writes it instead:
 * do that once, then review the file by eye before committing.
 */
export function expectGolden(file: string, actual: string): void {
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${file} is missing; run with UPDATE_GOLDEN=1 and review it`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  expect(actual).toBe(readFileSync(file, 'utf8'));
}
