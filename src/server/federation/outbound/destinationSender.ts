// One destination's sender: a loop that asks the retry policy (src/server/retryPolicy.ts) what
// is due, does it (an attempt: send the next transaction; or a probe), and feeds the outcome
// back. The policy is pure; this file owns the timers, the I/O and the persisted backoff.
import type { FastifyBaseLogger } from "fastify";
import type { Clock } from "../../clock.js";
import {
  dueAction,
  IDLE,
  nextRetryState,
  type RetryEvent,
  type RetryPolicy,
  type RetryState,
} from "../../retryPolicy.js";
import type { StoredBackoff } from "./backoffStore.js";
import type { Scheduler } from "./scheduler.js";

/**
 * The longest a sender sleeps before it looks at the clock again: deadlines are in clock time,
 * and a clock can move (the clock offset file of tests, a corrected system clock).
 */
export const CLOCK_CHECK_MS = 1_000;
/** The same for a clock moved by a test's clock offset file (clock_offset_file). */
export const OFFSET_CLOCK_CHECK_MS = 100;

export type AttemptOutcome = "delivered" | "empty" | { readonly failed: true; readonly unreachable: boolean };

export interface DestinationSenderOptions {
  readonly destination: string;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  readonly policy: RetryPolicy;
  readonly scheduler: Scheduler;
  readonly random: () => number;
  /** Longest sleep before the clock is looked at again (CLOCK_CHECK_MS). */
  readonly clockCheckMs?: number;
  /** The backoff stored before a restart, if any. */
  readonly resumed?: StoredBackoff;
  /** Sends the next transaction, if there is one. */
  attempt(signal: AbortSignal): Promise<AttemptOutcome>;
  /** Whether the destination answers at all (a cheap request). */
  probe(signal: AbortSignal): Promise<boolean>;
  saveBackoff(backoff: StoredBackoff): Promise<void>;
  clearBackoff(): Promise<void>;
  /**
   * Called in the same tick as the loop decides to stop (nothing owed, nothing poked): whoever
   * holds the sender must forget it then, so that work queued a moment later starts a new one.
   */
  stopping(): void;
}

export interface DestinationSender {
  state(): RetryState;
  /** Something was queued: look again before stopping (a backoff still waits its time). */
  poke(): void;
  /** The destination talked to us. */
  peerSeen(): void;
  /** Another peer talked to us. */
  networkSeen(): void;
  /** Stops the loop; resolves once it has. */
  close(): Promise<void>;
  /** Resolves when the loop ends (nothing owed, or closed). */
  readonly done: Promise<void>;
}

export function startDestinationSender(options: DestinationSenderOptions): DestinationSender {
  const { clock, log, destination } = options;
  const abort = new AbortController();
  let state: RetryState = options.resumed === undefined ? IDLE : { kind: "backingOff", ...options.resumed };
  let persisted = options.resumed !== undefined;
  let again = false;
  let closed = false;
  let sleeping: { handle: unknown; wake: () => void } | undefined;

  const apply = (event: RetryEvent) => {
    state = nextRetryState(state, event, clock.now(), options.random(), options.policy);
  };

  const wake = () => sleeping?.wake();

  const sleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      const done = () => {
        options.scheduler.clearTimeout(sleeping?.handle);
        sleeping = undefined;
        resolve();
      };
      sleeping = { handle: options.scheduler.setTimeout(done, Math.max(ms, 0)), wake: done };
    });

  /** The stored backoff follows the state: written when a failure sets it, deleted once idle. */
  const persist = async () => {
    if (state.kind === "backingOff") {
      await options.saveBackoff({ failures: state.failures, retryAt: state.retryAt, probeAt: state.probeAt });
      persisted = true;
    } else if (state.kind === "idle" && persisted) {
      await options.clearBackoff();
      persisted = false;
    }
  };

  const run = async (): Promise<void> => {
    while (!closed) {
      try {
        const now = clock.now();
        const action = dueAction(state, now);
        if (action.do === "wait") {
          await sleep(Math.min(action.untilMs - now, options.clockCheckMs ?? CLOCK_CHECK_MS));
          continue;
        }
        if (action.do === "probe") {
          apply({ type: "probe" });
          const answered = await options.probe(abort.signal).catch(() => false);
          apply({ type: answered ? "probeAnswered" : "probeFailed" });
          continue;
        }
        again = false;
        apply({ type: "attempt" });
        const outcome = await options.attempt(abort.signal);
        if (closed) return;
        if (outcome === "empty") {
          apply({ type: "drained" });
          await persist();
          if (again) continue;
          options.stopping();
          return;
        }
        apply(
          outcome === "delivered"
            ? { type: "delivered" }
            : { type: "failed", unreachable: outcome.unreachable },
        );
        await persist();
      } catch (error) {
        if (closed) return;
        log.error({ destination, err: error }, "outbound sender failed; retrying after backoff");
        apply({ type: "failed", unreachable: false });
        // An error outside an attempt (the stored backoff) must not spin the loop.
        if (state.kind !== "backingOff") await sleep(options.policy.initialMs);
      }
    }
  };

  const done = run();
  return {
    state: () => state,
    poke: () => {
      again = true;
    },
    peerSeen: () => {
      apply({ type: "peerSeen" });
      wake();
    },
    networkSeen: () => {
      apply({ type: "networkSeen" });
      wake();
    },
    close: async () => {
      closed = true;
      abort.abort();
      wake();
      await done;
    },
    done,
  };
}
