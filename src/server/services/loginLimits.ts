// Limits on password guessing and on the hashing it costs (defect 3 of the review): every login
// and registration request counts against its client address, and every failed password check
// (login or UIA) and registration attempt against the user name. A limited name is refused
// before any hashing.
import type { ServerContext } from "../context.js";
import { limitExceeded } from "../errors.js";
import { RateLimiter } from "../rateLimiter.js";

export class LoginLimits {
  private readonly addresses: RateLimiter;
  private readonly names: RateLimiter;

  constructor(ctx: Pick<ServerContext, "config" | "clock">) {
    const { auth } = ctx.config;
    this.addresses = new RateLimiter(auth.attemptsPerMinute / 60, auth.attemptBurst, ctx.clock);
    this.names = new RateLimiter(auth.failuresPerMinute / 60, auth.failureBurst, ctx.clock);
  }

  /** Counts a login or registration request from `address`; M_LIMIT_EXCEEDED beyond the limit. */
  attempt(address: string): void {
    const wait = this.addresses.take(address);
    if (wait > 0) throw limitExceeded(wait);
  }

  /** M_LIMIT_EXCEEDED while `userId` has used up its failures. */
  check(userId: string): void {
    const wait = this.names.wait(userId);
    if (wait > 0) throw limitExceeded(wait);
  }

  /** Counts a failed password check or a registration attempt for `userId`. */
  count(userId: string): void {
    this.names.take(userId);
  }
}

const limitsByServer = new WeakMap<ServerContext, LoginLimits>();

/** The server's limits (one instance for the v3 and r0 routes alike). */
export function loginLimits(ctx: ServerContext): LoginLimits {
  let limits = limitsByServer.get(ctx);
  if (limits === undefined) {
    limits = new LoginLimits(ctx);
    limitsByServer.set(ctx, limits);
  }
  return limits;
}
