// The retry policy of every outbound queue (federation destinations today, push delivery later):
// a pure function from (state, event, now, random) to the next state, and from a state to what
// is due. The sender that drives it owns the I/O; this file owns every delay (issue 16).
//
// A failed attempt backs off exponentially with jitter (so a fleet of servers does not retry in
// step). When the failure means the peer could not be reached, cheap probes run meanwhile on a
// short capped interval: after a partition heals, the next probe finds the peer and the queue is
// sent at once, instead of after a backoff that may have grown to an hour. A probe that answers
// is trusted once: if the attempt it triggers fails again, that backoff waits its full length,
// so a peer that answers probes but not transactions is not hammered.

export interface RetryPolicy {
  /** Backoff after the first failure; it doubles after each further one. */
  readonly initialMs: number;
  /** The longest backoff. */
  readonly maxMs: number;
  /** Longest interval between two probes of an unreachable peer while something is owed to it. */
  readonly probeIntervalMs: number;
  /** Each delay is shortened by up to this fraction of itself, at random (0 = no jitter). */
  readonly jitter: number;
}

export type RetryState =
  /** Nothing owed, or everything owed is being sent with no failure behind it. */
  | { readonly kind: "idle" }
  /** An attempt is in flight; `afterProbe`: it was triggered by a probe that answered. */
  | { readonly kind: "sending"; readonly failures: number; readonly afterProbe: boolean }
  /**
   * Waiting: the next attempt at `retryAt`; a probe at `probeAt` (undefined when probing would
   * tell nothing: the peer answered, or a probe just answered and the attempt still failed).
   */
  | {
      readonly kind: "backingOff";
      readonly failures: number;
      readonly retryAt: number;
      readonly probeAt: number | undefined;
    }
  /** A probe is in flight. */
  | { readonly kind: "probing"; readonly failures: number; readonly retryAt: number }
  /** A probe answered: the attempt is due at once, and is the probe's only chance. */
  | { readonly kind: "released"; readonly failures: number };

export type RetryEvent =
  /** An attempt starts (its time came, or work arrived while idle). */
  | { readonly type: "attempt" }
  /** The attempt succeeded (or its work was given up): the next one may follow at once. */
  | { readonly type: "delivered" }
  /** The attempt failed; `unreachable`: no answer, a timeout or a gateway error (502-504). */
  | { readonly type: "failed"; readonly unreachable: boolean }
  /** Nothing is owed any more. */
  | { readonly type: "drained" }
  | { readonly type: "probe" }
  | { readonly type: "probeAnswered" }
  | { readonly type: "probeFailed" }
  /** The peer itself talked to us: it is up, and it can reach us. Backoff reset, retry now. */
  | { readonly type: "peerSeen" }
  /** Another peer talked to us: our own network works; probe the unreachable peers now. */
  | { readonly type: "networkSeen" };

export type RetryAction =
  | { readonly do: "attempt" }
  | { readonly do: "probe" }
  | { readonly do: "wait"; readonly untilMs: number }
  /** An attempt or probe is in flight, or nothing is owed. */
  | { readonly do: "nothing" };

export const IDLE: RetryState = { kind: "idle" };

/** The backoff after `failures` consecutive failures, before jitter. */
export function backoffMs(failures: number, policy: RetryPolicy): number {
  return Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
}

/** `ms` shortened by up to `policy.jitter` of itself; `random` is in [0, 1). */
export function withJitter(ms: number, policy: RetryPolicy, random: number): number {
  return Math.round(ms * (1 - policy.jitter * random));
}

const failuresOf = (state: RetryState): number => (state.kind === "idle" ? 0 : state.failures);

/** The state after `event` at time `now`; an event that does not apply leaves the state as it is. */
export function nextRetryState(
  state: RetryState,
  event: RetryEvent,
  now: number,
  random: number,
  policy: RetryPolicy,
): RetryState {
  switch (event.type) {
    case "attempt":
      if (state.kind === "sending" || state.kind === "probing") return state;
      return { kind: "sending", failures: failuresOf(state), afterProbe: state.kind === "released" };
    case "delivered":
      return state.kind === "sending" ? IDLE : state;
    case "drained":
      return IDLE;
    case "failed": {
      if (state.kind !== "sending") return state;
      const failures = state.failures + 1;
      const retryAt = now + withJitter(backoffMs(failures, policy), policy, random);
      const probing = event.unreachable && !state.afterProbe;
      const probeAt = probing ? now + withJitter(policy.probeIntervalMs, policy, random) : undefined;
      return {
        kind: "backingOff",
        failures,
        retryAt,
        probeAt: probeAt !== undefined && probeAt < retryAt ? probeAt : undefined,
      };
    }
    case "probe":
      if (state.kind !== "backingOff" || state.probeAt === undefined) return state;
      return { kind: "probing", failures: state.failures, retryAt: state.retryAt };
    case "probeAnswered":
      if (state.kind !== "probing") return state;
      return { kind: "released", failures: state.failures };
    case "probeFailed": {
      if (state.kind !== "probing") return state;
      const probeAt = now + withJitter(policy.probeIntervalMs, policy, random);
      return { ...state, kind: "backingOff", probeAt: probeAt < state.retryAt ? probeAt : undefined };
    }
    case "peerSeen":
      return state.kind === "backingOff" ? IDLE : state;
    case "networkSeen":
      return state.kind === "backingOff" && state.probeAt !== undefined && state.probeAt > now
        ? { ...state, probeAt: now }
        : state;
  }
}

/** What is due in `state` at time `now`. */
export function dueAction(state: RetryState, now: number): RetryAction {
  if (state.kind === "idle" || state.kind === "released") return { do: "attempt" };
  if (state.kind !== "backingOff") return { do: "nothing" };
  if (state.retryAt <= now) return { do: "attempt" };
  if (state.probeAt !== undefined && state.probeAt <= now) return { do: "probe" };
  return { do: "wait", untilMs: Math.min(state.retryAt, state.probeAt ?? Infinity) };
}
