// A token bucket per key (a session, an address, a user name): floods get M_LIMIT_EXCEEDED with
// the time after which one more request would be allowed.
import type { Clock } from "./clock.js";

interface Bucket {
  tokens: number;
  updated: number;
}

const MAX_BUCKETS = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** `perSecond` may be a fraction (one every few seconds). */
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly clock: Clock,
  ) {}

  /** Takes one token: 0 when the request may go ahead, else the milliseconds to wait. */
  take(key: string): number {
    const wait = this.wait(key);
    if (wait === 0) this.refilled(key).tokens -= 1;
    return wait;
  }

  /** What take() would answer, without taking anything. */
  wait(key: string): number {
    const bucket = this.refilled(key);
    return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) * 1000) / this.perSecond);
  }

  private refilled(key: string): Bucket {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= MAX_BUCKETS) this.buckets.clear();
      bucket = { tokens: this.burst, updated: now };
      this.buckets.set(key, bucket);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.updated) * this.perSecond) / 1000);
    bucket.updated = now;
    return bucket;
  }
}
