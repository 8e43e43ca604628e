// The outbound queue (OutboundQueue): items are written in the caller's transaction, so nothing
// acknowledged to a client can be lost; one sender per destination (destinationSender.ts) sends
// them in order, one transaction at a time (`PUT /send/{txnId}`, at most 50 PDUs and 100 EDUs),
// deletes them only after a 200, and retries failures as the retry policy says (backoff with
// jitter, probes of an unreachable peer, src/server/retryPolicy.ts). Everything waiting is in
// the database, not in memory: a peer may be down for hours. Senders start again at start-up,
// with the backoff they had.
//
// A 4xx answer to a whole transaction means one side has a bug (a 200 with per-PDU errors is
// how a peer refuses single PDUs): it is retried like a failure, and after MAX_REJECTIONS
// consecutive refusals of the same transaction its items are logged and dropped, so one bad
// transaction cannot block a destination forever. 401 (the peer could not check our key yet),
// 408 and 429 are not refusals: they are retried for as long as it takes.
import type { FastifyBaseLogger } from "fastify";
import type { Clock } from "../../clock.js";
import type { RetryPolicy, RetryState } from "../../retryPolicy.js";
import type { Database } from "../../storage/database.js";
import type { FederationClientWithKeys } from "../transport/federationClient.js";
import { FederationRequestError, type OutboundQueue } from "../../federationTypes.js";
import { clearBackoff, loadBackoffs, saveBackoff, type StoredBackoff } from "./backoffStore.js";
import { startDestinationSender, type AttemptOutcome, type DestinationSender } from "./destinationSender.js";
import { realScheduler, type Scheduler } from "./scheduler.js";
import {
  destinationsWithItems,
  finishTransaction,
  insertItem,
  nextTransaction,
  recordRejection,
  type OutboundTransaction,
} from "./transactionStore.js";

export const MAX_REJECTIONS = 5;
const SEND_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 10_000;
/** The probe: the cheapest request every homeserver answers, without authentication. */
export const PROBE_PATH = "/_matrix/federation/v1/version";
/** Each delay is shortened by up to a quarter, at random, so servers do not retry in step. */
export const RETRY_JITTER = 0.25;
const TRANSIENT_4XX = new Set([401, 408, 429]);
/** Answers of a gateway in front of a peer that is down: the peer is unreachable. */
const GATEWAY_ERRORS = new Set([502, 503, 504]);
const UNREACHABLE_ERRCODES = new Set(["MYELIN_UNREACHABLE", "MYELIN_TIMEOUT"]);

export interface OutboundQueueOptions {
  readonly serverName: string;
  readonly db: Database;
  readonly client: Pick<FederationClientWithKeys, "request" | "getUnsigned">;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly probeIntervalMs: number;
  readonly scheduler?: Scheduler;
  /** Randomness of the jitter, in [0, 1). */
  readonly random?: () => number;
  readonly sendTimeoutMs?: number;
  /** Longest sleep before a sender looks at the clock again (tests with a fake clock: infinite). */
  readonly clockCheckMs?: number;
}

export interface ManagedOutboundQueue extends OutboundQueue {
  /** Starts a sender for every destination with queued items (after a restart). */
  start(): Promise<void>;
  /** A verified request from `origin`: it is up (retry it now), and so is our network. */
  peerSeen(origin: string): void;
  /** The retry state of a destination's sender (idle when none runs). */
  retryState(destination: string): RetryState;
}

/** Whether a failed request means that the peer could not be reached at all. */
function unreachable(error: FederationRequestError): boolean {
  return error.status === 0 ? UNREACHABLE_ERRCODES.has(error.errcode) : GATEWAY_ERRORS.has(error.status);
}

export function createOutboundQueue(options: OutboundQueueOptions): ManagedOutboundQueue {
  const { db, log } = options;
  const scheduler = options.scheduler ?? realScheduler;
  const random = options.random ?? Math.random;
  const policy: RetryPolicy = {
    initialMs: options.retryInitialMs,
    maxMs: options.retryMaxMs,
    probeIntervalMs: options.probeIntervalMs,
    jitter: RETRY_JITTER,
  };
  const senders = new Map<string, DestinationSender>();
  const queued = new Set<string>();
  let closed = false;
  /** When a verified request last made every unreachable peer be probed at once. */
  let networkSeenAt = -Infinity;

  const ensureSender = (destination: string, resumed?: StoredBackoff): void => {
    if (closed) return;
    const existing = senders.get(destination);
    if (existing !== undefined) {
      existing.poke();
      return;
    }
    // The transaction the peer last answered 200: it leaves the queue as the next one is cut.
    let delivered: string | undefined;
    const sender = startDestinationSender({
      destination,
      clock: options.clock,
      log,
      policy,
      scheduler,
      random,
      ...(options.clockCheckMs !== undefined ? { clockCheckMs: options.clockCheckMs } : {}),
      ...(resumed !== undefined ? { resumed } : {}),
      attempt: async (signal) => {
        const txn = await nextTransaction(db, destination, options.clock.now(), delivered);
        delivered = undefined;
        if (txn === undefined) return "empty";
        const outcome = await send(destination, txn, signal);
        if (outcome === "sent") delivered = txn.txnId;
        return outcome === "sent" || outcome === "dropped" ? "delivered" : outcome;
      },
      probe: (signal) => probe(destination, signal),
      saveBackoff: (backoff) => saveBackoff(db, destination, backoff),
      clearBackoff: () => clearBackoff(db, destination),
      stopping: () => senders.delete(destination),
    });
    senders.set(destination, sender);
  };

  const probe = async (destination: string, signal: AbortSignal): Promise<boolean> => {
    try {
      await options.client.getUnsigned(destination, PROBE_PATH, { timeoutMs: PROBE_TIMEOUT_MS, signal });
      return true;
    } catch (error) {
      // Any other answer (a 404 from a server without the route) still shows it is up.
      return error instanceof FederationRequestError && error.status !== 0 && !unreachable(error);
    }
  };

  const send = async (
    destination: string,
    txn: OutboundTransaction,
    signal: AbortSignal,
  ): Promise<"sent" | "dropped" | Exclude<AttemptOutcome, string>> => {
    if (txn.missing.length > 0) {
      log.warn(
        { destination, txnId: txn.txnId, eventIds: txn.missing },
        "queued PDUs not found in events; skipped",
      );
    }
    const body = {
      origin: options.serverName,
      origin_server_ts: options.clock.now(),
      pdus: txn.pdus,
      ...(txn.edus.length > 0 ? { edus: txn.edus } : {}),
    };
    try {
      const response = await options.client.request<{ pdus?: Record<string, { error?: string }> }>(
        destination,
        "PUT",
        `/_matrix/federation/v1/send/${encodeURIComponent(txn.txnId)}`,
        { body, timeoutMs: options.sendTimeoutMs ?? SEND_TIMEOUT_MS, signal },
      );
      for (const [eventId, result] of Object.entries(response.pdus ?? {})) {
        if (result?.error !== undefined) {
          log.warn({ destination, eventId, error: result.error }, "a peer refused one of our PDUs");
        }
      }
      return "sent";
    } catch (error) {
      if (!(error instanceof FederationRequestError)) throw error;
      const failed = { failed: true, unreachable: unreachable(error) } as const;
      if (closed) return failed;
      const refusal = error.status >= 400 && error.status < 500 && !TRANSIENT_4XX.has(error.status);
      if (!refusal) {
        log.warn(
          { destination, txnId: txn.txnId, status: error.status, err: error.message },
          "transaction not delivered",
        );
        return failed;
      }
      const rejections = txn.rejections + 1;
      if (rejections >= MAX_REJECTIONS) {
        log.error(
          {
            destination,
            txnId: txn.txnId,
            status: error.status,
            err: error.message,
            pdus: txn.pdus.length,
            edus: txn.edus.length,
          },
          "a peer refused a transaction repeatedly; its items are dropped",
        );
        await finishTransaction(db, destination, txn.txnId);
        return "dropped";
      }
      await recordRejection(db, destination, rejections);
      log.warn(
        { destination, txnId: txn.txnId, status: error.status, err: error.message, rejections },
        "a peer refused a transaction",
      );
      return failed;
    }
  };

  return {
    enqueuePdu: async (tx, destinations, eventId) => {
      for (const destination of new Set(destinations)) {
        if (destination === options.serverName) continue;
        await insertItem(tx, destination, { eventId });
        queued.add(destination);
      }
    },
    enqueueEdu: async (tx, destination, edu) => {
      if (destination === options.serverName) return;
      await insertItem(tx, destination, { edu });
      queued.add(destination);
    },
    wake: () => {
      for (const destination of queued) ensureSender(destination);
      queued.clear();
    },
    start: async () => {
      const backoffs = await loadBackoffs(db);
      for (const destination of await destinationsWithItems(db))
        ensureSender(destination, backoffs.get(destination));
    },
    peerSeen: (origin) => {
      senders.get(origin)?.peerSeen();
      // Any verified request shows that our own network works: every peer we could not reach
      // is probed now rather than at its next probe, at most once per probe interval.
      const now = options.clock.now();
      if (now - networkSeenAt < policy.probeIntervalMs) return;
      networkSeenAt = now;
      for (const [destination, sender] of senders) if (destination !== origin) sender.networkSeen();
    },
    retryState: (destination) => senders.get(destination)?.state() ?? { kind: "idle" },
    close: async () => {
      closed = true;
      await Promise.all([...senders.values()].map((sender) => sender.close()));
    },
  };
}
