import type { DeadLetterStore } from '../../dlq/store.js';
import type { Outcome } from './classify.js';

/**
 * Stage "dead-letter": writes the Outcome's dead alerts to the dead-letter store (src/dlq), one
 * record per alert for this output, before the job is acknowledged: a crash in between retries the
 * job rather than losing them.
 */
export function createDeadLetterStage(store: DeadLetterStore, output: string, now: () => number = Date.now) {
  return async (outcome: Outcome): Promise<void> => {
    if (outcome.dead.length === 0) return;
    const at = now();
    await store.add(
      output,
      outcome.dead.map((d) => ({
        id: d.id,
        rule: d.rule,
        alert: d.text,
        reason: d.reason,
        ...(d.status !== undefined ? { status: d.status } : {}),
        attempts: outcome.sends,
        firstAttemptAt: outcome.firstAttemptAt,
        lastAttemptAt: at,
      })),
    );
  };
}
