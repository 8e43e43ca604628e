// The retry policy of the outbound queues (issue 16), as a pure function driven with a fake
// clock and chosen randomness: backoff with jitter and a cap, probes of an unreachable peer on a
// short capped interval, a probe trusted once, and resets when the peer or any peer talks to us.
import { describe, expect, it } from "vitest";
import {
  backoffMs,
  dueAction,
  IDLE,
  nextRetryState,
  type RetryEvent,
  type RetryPolicy,
  type RetryState,
} from "../../src/server/retryPolicy.js";

const POLICY: RetryPolicy = { initialMs: 1_000, maxMs: 3_600_000, probeIntervalMs: 4_000, jitter: 0.25 };

/** Runs `events` from `state`, each at its own time with its own randomness. */
function drive(
  state: RetryState,
  steps: readonly (readonly [RetryEvent, number, number?])[],
  policy = POLICY,
): RetryState {
  return steps.reduce(
    (current, [event, now, random]) => nextRetryState(current, event, now, random ?? 0, policy),
    state,
  );
}

const attempt: RetryEvent = { type: "attempt" };
const unreachable: RetryEvent = { type: "failed", unreachable: true };
const answeredError: RetryEvent = { type: "failed", unreachable: false };

describe("retry policy", () => {
  it.each([
    [1, 1_000],
    [2, 2_000],
    [5, 16_000],
    [12, 2_048_000],
    [13, 3_600_000],
    [500, 3_600_000],
  ])("backs off exponentially up to the cap: after %i failures, %i ms", (failures, ms) => {
    expect(backoffMs(failures, POLICY)).toBe(ms);
  });

  it.each([
    [0, 16_000],
    [0.5, 14_000],
    [0.999, 12_004],
  ])(
    "shortens each delay by up to a quarter at random (random %f: %i ms), never lengthens it",
    (random, ms) => {
      const sending: RetryState = { kind: "sending", failures: 4, afterProbe: false };
      const state = nextRetryState(sending, answeredError, 0, random, POLICY);
      expect(state).toMatchObject({ kind: "backingOff", failures: 5, retryAt: ms });
    },
  );

  it("probes an unreachable peer on the short interval, not at the backoff", () => {
    const sending: RetryState = { kind: "sending", failures: 9, afterProbe: false };
    const state = nextRetryState(sending, unreachable, 100_000, 0, POLICY);
    expect(state).toEqual({ kind: "backingOff", failures: 10, retryAt: 100_000 + 512_000, probeAt: 104_000 });
    expect(dueAction(state, 103_999)).toEqual({ do: "wait", untilMs: 104_000 });
    expect(dueAction(state, 104_000)).toEqual({ do: "probe" });
  });

  it("does not probe a peer that answered with an error: probing would tell nothing", () => {
    const state = drive(IDLE, [
      [attempt, 0],
      [answeredError, 0],
    ]);
    expect(state).toEqual({ kind: "backingOff", failures: 1, retryAt: 1_000, probeAt: undefined });
    expect(dueAction(state, 500)).toEqual({ do: "wait", untilMs: 1_000 });
  });

  it("does not probe when the backoff is due before the probe would be", () => {
    const state = drive(IDLE, [
      [attempt, 0],
      [unreachable, 0],
    ]);
    expect(state).toEqual({ kind: "backingOff", failures: 1, retryAt: 1_000, probeAt: undefined });
  });

  it("probes again on the interval while probes fail, until the backoff is due", () => {
    const start: RetryState = { kind: "backingOff", failures: 12, retryAt: 2_048_000, probeAt: 4_000 };
    const probeFails = (now: number): [RetryEvent, number][] => [
      [{ type: "probe" }, now],
      [{ type: "probeFailed" }, now + 10],
    ];
    const state = drive(start, [...probeFails(4_000), ...probeFails(8_010)]);
    expect(state).toEqual({ kind: "backingOff", failures: 12, retryAt: 2_048_000, probeAt: 12_020 });
  });

  it("attempts at once when a probe answers, with the failures kept", () => {
    const start: RetryState = { kind: "backingOff", failures: 12, retryAt: 2_048_000, probeAt: 4_000 };
    const state = drive(start, [
      [{ type: "probe" }, 4_000],
      [{ type: "probeAnswered" }, 4_050],
    ]);
    expect(state).toEqual({ kind: "released", failures: 12 });
    expect(dueAction(state, 4_050)).toEqual({ do: "attempt" });
  });

  it("trusts a probe once: when the attempt it released fails, the full backoff is waited", () => {
    const start: RetryState = { kind: "backingOff", failures: 3, retryAt: 50_000, probeAt: 4_000 };
    const state = drive(start, [
      [{ type: "probe" }, 4_000],
      [{ type: "probeAnswered" }, 4_000],
      [attempt, 4_000],
      [unreachable, 5_000],
    ]);
    expect(state).toEqual({ kind: "backingOff", failures: 4, retryAt: 5_000 + 8_000, probeAt: undefined });
  });

  it("goes back to idle, failures forgotten, after a delivery", () => {
    const state = drive({ kind: "released", failures: 12 }, [
      [attempt, 0],
      [{ type: "delivered" }, 10],
      [attempt, 10],
      [answeredError, 20],
    ]);
    expect(state).toEqual({ kind: "backingOff", failures: 1, retryAt: 1_020, probeAt: undefined });
  });

  it("resets the backoff and attempts at once when the peer talks to us", () => {
    const start: RetryState = { kind: "backingOff", failures: 12, retryAt: 2_048_000, probeAt: undefined };
    const state = nextRetryState(start, { type: "peerSeen" }, 60_000, 0, POLICY);
    expect(state).toEqual(IDLE);
    expect(dueAction(state, 60_000)).toEqual({ do: "attempt" });
  });

  it("probes an unreachable peer at once when another peer talks to us (our network is back)", () => {
    const start: RetryState = { kind: "backingOff", failures: 12, retryAt: 2_048_000, probeAt: 64_000 };
    const state = nextRetryState(start, { type: "networkSeen" }, 60_000, 0, POLICY);
    expect(dueAction(state, 60_000)).toEqual({ do: "probe" });
  });

  it("leaves a peer that answered with errors on its backoff when another peer talks to us", () => {
    const start: RetryState = { kind: "backingOff", failures: 12, retryAt: 2_048_000, probeAt: undefined };
    expect(nextRetryState(start, { type: "networkSeen" }, 60_000, 0, POLICY)).toEqual(start);
  });

  it("probes an hour-long outage at most once per interval: about 900 probes and 12 attempts", () => {
    // A peer down for an hour: every attempt and probe fails; count what it would receive.
    let state: RetryState = IDLE;
    let probes = 0;
    let attempts = 0;
    for (let now = 0; now <= 3_600_000; now += 100) {
      const due = dueAction(state, now);
      if (due.do === "attempt") {
        attempts += 1;
        state = drive(state, [
          [attempt, now],
          [unreachable, now, 0.5],
        ]);
      } else if (due.do === "probe") {
        probes += 1;
        state = drive(state, [
          [{ type: "probe" }, now],
          [{ type: "probeFailed" }, now, 0.5],
        ]);
      }
    }
    expect(attempts).toBe(13);
    expect(probes).toBeLessThanOrEqual(Math.ceil(3_600_000 / (POLICY.probeIntervalMs * (1 - POLICY.jitter))));
    expect(probes).toBeGreaterThan(800);
  });
});
