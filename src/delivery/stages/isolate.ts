import type { Alert } from '../../alert/alert.js';
import { isDeliveryError } from '../../../outputs/kit/errors.js';
import type { SendResult } from '../../../outputs/kit/types.js';
import type { SendAttempt } from './send.js';

/**
 * Stage "isolate": when a batch send threw something that is not a DeliveryError (the output could
 * not build a payload: one alert it cannot render, e.g. an event time past year 9999 for
 * Alertmanager), the batch is sent again one alert at a time, so that only the alerts that fail
 * alone are dead-lettered and the rest are delivered, as the router does for a poison alert.
 * The per-alert outcomes come back as one attempt with per-item results for the classify stage.
 * Such a throw happens while building the request, before anything was sent, so re-sending does
 * not duplicate; outputs whose resends are idempotent are safe either way.
 */
export function createIsolateStage(send: (texts: string[]) => Promise<SendAttempt>) {
  return async (attempt: SendAttempt): Promise<SendAttempt> => {
    const batch = attempt.texts.length;
    if (!attempt.failed || isDeliveryError(attempt.error) || batch < 2 || attempt.alerts.length !== batch) return attempt;
    const rejected: NonNullable<SendResult['rejected']> = [];
    const retry: Alert[] = [];
    let seconds = attempt.seconds;
    for (let i = 0; i < batch; i++) {
      const one = await send([attempt.texts[i]!]);
      seconds += one.seconds;
      const alert = attempt.alerts[i]!;
      const result = one.result ?? undefined;
      if (!one.failed) {
        if (result?.rejected?.length) rejected.push({ alert, reason: result.rejected[0]!.reason });
        else if (result?.retry?.length) retry.push(alert);
      } else if (!isDeliveryError(one.error)) {
        rejected.push({ alert, reason: `output error: ${(one.error as Error)?.message ?? String(one.error)}` });
      } else if (one.error.retryable) retry.push(alert);
      else rejected.push({ alert, reason: one.error.message });
    }
    return { ...attempt, seconds, failed: false, error: undefined, result: { rejected, retry } };
  };
}
