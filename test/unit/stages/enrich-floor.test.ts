import { describe, expect, it } from 'vitest';
import { createEnrichStage } from '../../../src/router/stages/enrich.js';
import { createPriorityFloorStage } from '../../../src/router/stages/priority-floor.js';
import { PRIORITIES } from '../../../src/alert/priority.js';
import { makeAlert } from './make-alert.js';

describe('enrich stage', () => {
  it('adds customFields to every alert, overriding a Falco field of the same name', () => {
    const enrich = createEnrichStage({ cluster: 'prod-eu', env: 'prod' });
    const alerts = enrich([
      makeAlert({ output_fields: { 'proc.name': 'bash', cluster: 'from-node' } }),
      makeAlert(),
    ]);
    expect(alerts[0]!.output_fields).toEqual({ 'proc.name': 'bash', cluster: 'prod-eu', env: 'prod' });
    expect(alerts[1]!.output_fields).toEqual({ cluster: 'prod-eu', env: 'prod' });
  });

  it('leaves alerts unchanged without customFields', () => {
    const a = makeAlert({ output_fields: { x: 1 } });
    expect(createEnrichStage({})([a])[0]!.output_fields).toEqual({ x: 1 });
  });
});

describe('priority floor stage', () => {
  it('keeps alerts at least as severe as the floor, drops the rest', () => {
    const alerts = PRIORITIES.map((priority) => makeAlert({ priority }));
    expect(createPriorityFloorStage('Warning')(alerts).map((a) => a.priority)).toEqual([
      'Emergency',
      'Alert',
      'Critical',
      'Error',
      'Warning',
    ]);
    expect(createPriorityFloorStage('Debug')(alerts)).toHaveLength(8);
    expect(createPriorityFloorStage('Emergency')(alerts).map((a) => a.priority)).toEqual(['Emergency']);
  });
});
