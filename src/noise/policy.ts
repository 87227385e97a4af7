import ms from 'ms';
import type { OutputInstance } from '../config/load.js';

/** Overflow digests collect this long when neither `overflow.window` nor `dedup.window` is set. */
export const DEFAULT_OVERFLOW_WINDOW = 60_000;

/** What storm control and overflow do for one output; undefined when the output gets every alert as is. */
export interface NoisePolicy {
  output: string;
  /** `outputs.<name>.dedup`: fold repeats of a key inside a window. */
  storm?: { window: number; key: readonly string[] };
  /** Fold alerts into digests while the backlog exceeds `afterMs` of sending at the output's rate. */
  overflow?: { afterMs: number; window: number; key: readonly string[]; rate: { max: number; per: number } };
}

export function overflowMode(instance: OutputInstance): 'digest' | 'queue' {
  return instance.config.overflow?.mode ?? instance.definition.defaultOverflow ?? 'queue';
}

export function noisePolicy(instance: OutputInstance): NoisePolicy | undefined {
  const { dedup, overflow, rateLimit } = instance.config;
  const policy: NoisePolicy = { output: instance.name };
  if (dedup) policy.storm = { window: dedup.window, key: dedup.key };
  // Without a rate limit an output drains as fast as it answers: there is no backlog to bound.
  if (rateLimit && overflowMode(instance) === 'digest') {
    policy.overflow = {
      afterMs: overflow?.after ?? 60_000,
      window: overflow?.window ?? dedup?.window ?? DEFAULT_OVERFLOW_WINDOW,
      key: dedup?.key ?? ['rule'],
      rate: rateLimit,
    };
  }
  return policy.storm || policy.overflow ? policy : undefined;
}

/** One line for `falconet check`. */
export function describeNoise(instance: OutputInstance): string {
  const { dedup, rateLimit } = instance.config;
  const parts: string[] = [];
  parts.push(dedup ? `dedup ${ms(dedup.window)} on ${dedup.key.join(', ')} (first alert at once, then a digest)` : 'dedup off (every alert)');
  if (!rateLimit) parts.push('no rate limit (overflow n/a)');
  else {
    const policy = noisePolicy(instance);
    parts.push(
      policy?.overflow
        ? `overflow digest after ${ms(policy.overflow.afterMs)} of backlog at ${rateLimit.max} per ${ms(rateLimit.per)} (digests of ${ms(policy.overflow.window)} by ${policy.overflow.key.join(', ')})`
        : `overflow queue (every alert queued, ${rateLimit.max} per ${ms(rateLimit.per)})`,
    );
  }
  return parts.join('; ');
}
