// The seams between the federation parts (transport, outbound queue, rooms, EDUs and keys): each
// part implements one of these, the others and the tests depend only on them.
import type { FastifyRequest } from "fastify";
import type { Queryable } from "./storage/database.js";

/** A refusal or failure of a request to another server. */
export class FederationRequestError extends Error {
  override readonly name = "FederationRequestError";
  constructor(
    readonly destination: string,
    /** HTTP status, or 0 when the server could not be reached or answered garbage. */
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(`${destination}: ${errcode}: ${message}`);
  }
}

export interface FederationRequestOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string | number | undefined>;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** Requests to other homeservers, X-Matrix signed, to the address discovery finds. */
export interface FederationClient {
  /** `path` is the whole path, e.g. `/_matrix/federation/v1/send/123`; segments already encoded. */
  request<T>(
    destination: string,
    method: "GET" | "PUT" | "POST",
    path: string,
    options?: FederationRequestOptions,
  ): Promise<T>;
}

/** Other servers' signing keys, fetched and cached with their validity. */
export interface RemoteKeys {
  /** The public key `keyId` of `server` if it was valid at `atTs` (ms); undefined if unknown. */
  verifyKey(server: string, keyId: string, atTs: number): Promise<Uint8Array | undefined>;
}

/** An EDU as a transaction carries it. */
export interface Edu {
  readonly edu_type: string;
  readonly content: Record<string, unknown>;
}

/** Outgoing transactions: durable, per destination, retried with backoff, resumed after restart. */
export interface OutboundQueue {
  /** Queues our own PDU (by event ID, stored in `events`) for each destination, in the caller's write. */
  enqueuePdu(tx: Queryable, destinations: readonly string[], eventId: string): Promise<void>;
  /** Queues an EDU for a destination, in the caller's write. */
  enqueueEdu(tx: Queryable, destination: string, edu: Edu): Promise<void>;
  /** Call after the write that queued something committed: the senders start at once. */
  wake(): void;
  close(): Promise<void>;
}

/** What an authenticated federation route handler gets: the verified origin server. */
export type FederationHandler = (request: FastifyRequest, origin: string) => Promise<unknown>;

/** Registers routes under /_matrix/federation that only X-Matrix signed requests reach. */
export type FederationRouter = (
  method: "GET" | "PUT" | "POST",
  path: string,
  handler: FederationHandler,
) => void;

/** The federation services every route module and service reaches through ServerContext. */
export interface Federation {
  readonly client: FederationClient;
  readonly keys: RemoteKeys;
  readonly outbound: OutboundQueue;
}
