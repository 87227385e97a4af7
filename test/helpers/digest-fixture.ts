import type { Alert } from '../../src/alert/alert.js';
import { stringifyJson } from '../../src/alert/json.js';
import { normalise } from '../../src/router/stages/normalise.js';
import { buildDigestAlert } from '../../src/alert/digest.js';
import { fixtureAlertLines } from './fixtures.js';

/**
 * A digest as the flusher builds it, from a fixture alert as the first folded one: 523 repeats of
 * the syscall fixture (line 23, team2) on 12 pods of 3 hosts, 10:01:02–10:05:40. Fixed numbers,
 * so the outputs' digest goldens are stable.
 */
export function digestFixture(index = 23, suppressed = 523): Alert {
  const sample = normalise([[`fixture-${index}`, fixtureAlertLines()[index]!]])[0]!;
  return buildDigestAlert({
    id: 'digest-42-0123456789abcdef',
    fields: {
      sample: stringifyJson(sample),
      n: String(suppressed),
      first: '2025-06-12T10:01:02.123456789Z',
      last: '2025-06-12T10:05:40.987654321Z',
      hn: String(suppressed),
      nsn: String(suppressed),
      pn: String(suppressed),
    },
    hosts: { distinct: 3, top: [{ name: 'ip-10-0-47-201.ec2.internal', count: 400 }, { name: 'ip-10-0-3-17.ec2.internal', count: 100 }, { name: 'ip-10-0-9-9.ec2.internal', count: 23 }], others: 0 },
    namespaces: { distinct: 1, top: [{ name: 'team2', count: suppressed }], others: 0 },
    pods: {
      distinct: 12,
      top: [
        { name: 'nginx-7d9c-a', count: 200 },
        { name: 'nginx-7d9c-b', count: 150 },
        { name: 'nginx-7d9c-c', count: 80 },
        { name: 'nginx-7d9c-d', count: 40 },
        { name: 'nginx-7d9c-e', count: 20 },
      ],
      others: suppressed - 490,
    },
  });
}
