/**
 * Alerts per second per identity, as a token bucket holding one second's worth. In process
 * memory: each collector replica enforces the limit on its own share of the traffic.
 * A request larger than the bucket passes when the bucket is full and leaves it in debt, so a
 * big batch is slowed down rather than refused forever.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** 0 when admitted (and counted); otherwise the seconds to wait before `count` alerts fit. */
  admit(key: string, perSecond: number, count: number): number {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: perSecond, at: now };
    bucket.tokens = Math.min(perSecond, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    const needed = Math.min(count, perSecond);
    if (bucket.tokens >= needed) {
      bucket.tokens -= count;
      return 0;
    }
    return Math.max(1, Math.ceil((needed - bucket.tokens) / perSecond));
  }
}
