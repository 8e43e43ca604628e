// The outbound queue (OutboundQueue): items are written in the caller's transaction, so nothing
// acknowledged to a client can be lost; one sender per destination sends them in order, one
// transaction at a time (`PUT /send/{txnId}`, at most 50 PDUs and 100 EDUs), deletes them only
// after a 200, and retries failures with exponential backoff. Everything waiting is in the
// database, not in memory: a peer may be down for hours. Senders start again at start-up.
//
// A 4xx answer to a whole transaction means one side has a bug (a 200 with per-PDU errors is
// how a peer refuses single PDUs): it is retried like a failure, and after MAX_REJECTIONS
// consecutive refusals of the same transaction its items are logged and dropped, so one bad
// transaction cannot block a destination forever. 401 (the peer could not check our key yet),
// 408 and 429 are not refusals: they are retried for as long as it takes.
import type { FastifyBaseLogger } from "fastify";
import type { Clock } from "../../clock.js";
import type { Database } from "../../storage/database.js";
import { FederationRequestError, type FederationClient, type OutboundQueue } from "../../federationTypes.js";
import { backoffDelay, realScheduler, type Scheduler } from "./scheduler.js";
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
const TRANSIENT_4XX = new Set([401, 408, 429]);

export interface OutboundQueueOptions {
  readonly serverName: string;
  readonly db: Database;
  readonly client: FederationClient;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly scheduler?: Scheduler;
  readonly sendTimeoutMs?: number;
}

export interface ManagedOutboundQueue extends OutboundQueue {
  /** Starts a sender for every destination with queued items (after a restart). */
  start(): Promise<void>;
  /** The peer is reachable again (it just talked to us): retry at once, backoff reset. */
  retryNow(destination: string): void;
}

interface Sender {
  /** Set when something was queued while the sender was looking: look again before stopping. */
  again: boolean;
  failures: number;
  sleep?: { handle: unknown; wake: () => void };
  readonly abort: AbortController;
  done?: Promise<void>;
}

type Outcome = "sent" | "failed" | "dropped";

export function createOutboundQueue(options: OutboundQueueOptions): ManagedOutboundQueue {
  const { db, log } = options;
  const scheduler = options.scheduler ?? realScheduler;
  const senders = new Map<string, Sender>();
  const queued = new Set<string>();
  let closed = false;

  const ensureSender = (destination: string): void => {
    if (closed) return;
    const existing = senders.get(destination);
    if (existing !== undefined) {
      existing.again = true;
      return;
    }
    const sender: Sender = { again: false, failures: 0, abort: new AbortController() };
    senders.set(destination, sender);
    sender.done = run(destination, sender).finally(() => senders.delete(destination));
  };

  const run = async (destination: string, sender: Sender): Promise<void> => {
    // The transaction the peer last answered 200: it leaves the queue as the next one is cut.
    let delivered: string | undefined;
    while (!closed) {
      sender.again = false;
      let outcome: Outcome;
      try {
        const txn = await nextTransaction(db, destination, options.clock.now(), delivered);
        delivered = undefined;
        if (txn === undefined) {
          if (sender.again) continue;
          return;
        }
        outcome = await send(destination, txn, sender.abort.signal);
        if (outcome === "sent") delivered = txn.txnId;
      } catch (error) {
        if (closed) return;
        log.error({ destination, err: error }, "outbound queue failed; retrying after backoff");
        outcome = "failed";
      }
      if (outcome !== "failed") {
        sender.failures = 0;
        continue;
      }
      sender.failures += 1;
      await sleep(sender, backoffDelay(sender.failures, options.retryInitialMs, options.retryMaxMs));
    }
  };

  const sleep = (sender: Sender, ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      const wake = () => {
        scheduler.clearTimeout(sender.sleep?.handle);
        sender.sleep = undefined;
        resolve();
      };
      sender.sleep = { handle: scheduler.setTimeout(wake, ms), wake };
    });

  const send = async (
    destination: string,
    txn: OutboundTransaction,
    signal: AbortSignal,
  ): Promise<Outcome> => {
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
      if (closed) return "failed";
      const refusal = error.status >= 400 && error.status < 500 && !TRANSIENT_4XX.has(error.status);
      if (!refusal) {
        log.warn(
          { destination, txnId: txn.txnId, status: error.status, err: error.message },
          "transaction not delivered",
        );
        return "failed";
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
      return "failed";
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
      for (const destination of await destinationsWithItems(db)) ensureSender(destination);
    },
    retryNow: (destination) => {
      const sender = senders.get(destination);
      if (sender?.sleep === undefined) return;
      sender.failures = 0;
      sender.sleep.wake();
    },
    close: async () => {
      closed = true;
      const running = [...senders.values()];
      for (const sender of running) {
        sender.abort.abort();
        sender.sleep?.wake();
      }
      await Promise.all(running.map((sender) => sender.done));
    },
  };
}
