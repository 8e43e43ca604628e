// What the rooms domain needs from outside it, as small interfaces: the server's context, other
// servers (implemented by federation/rooms/peers.ts), local accounts and device lists (wired in
// components.ts). The domain imports no transport, queue or other domain; the edges implement these.
import type { ProtocolCrypto } from "../../protocol/crypto.js";
import type { Clock } from "../clock.js";
import type { ServerSigningKey } from "../signingKey.js";
import type { Database, Queryable, WriteTransaction } from "../storage/database.js";

type LogFn = (fields: object, message: string) => void;

/**
 * What the rooms domain uses of the server (ServerContext has all of it). Named here so the
 * domain depends on no wider context, which also names the federation and other services.
 */
export interface RoomsContext {
  readonly config: { readonly serverName: string };
  readonly db: Database;
  readonly signingKey: ServerSigningKey;
  readonly crypto: ProtocolCrypto;
  readonly clock: Clock;
  readonly log: { readonly info: LogFn; readonly warn: LogFn; readonly error: LogFn };
  /** Wakes the users' waiting /sync requests. */
  readonly notifier: { wake(userIds: Iterable<string>): void };
}

/** A local user acting in a room (a session carries these). */
export interface RoomUser {
  readonly userId: string;
  readonly deviceId: string;
}

/** The body of a get_missing_events request. */
export interface MissingEventsQuery {
  readonly earliestEvents: readonly string[];
  readonly latestEvents: readonly string[];
  readonly limit: number;
}

/** Other servers, as the rooms domain reaches them. A failed request throws. */
export interface RoomPeers {
  /** Section 7: queues our event for each server inside the caller's write, so it survives a restart. */
  enqueuePdu(tx: WriteTransaction, destinations: readonly string[], eventId: string): Promise<void>;
  /** The write that queued PDUs committed: send now. */
  wake(): void;
  /** The auth chain `server` serves for an event (unchecked). */
  fetchAuthChain(server: string, roomId: string, eventId: string): Promise<unknown[]>;
  /** The events `server` serves for a gap before `latestEvents` (unchecked). */
  fetchMissingEvents(server: string, roomId: string, query: MissingEventsQuery): Promise<unknown[]>;
  /** One event `server` serves (unchecked), or undefined when it served none. */
  fetchEvent(server: string, eventId: string): Promise<unknown>;
  /** Delivers a signed remote invite to the invitee's server (D15). */
  sendInvite(server: string, roomId: string, invitee: string, invite: object): Promise<void>;
  /** The public key `keyId` of `server` if it was valid at `atTs` (ms). */
  verifyKey(server: string, keyId: string, atTs: number): Promise<Uint8Array | undefined>;
}

/** What the rooms domain is given when the server is assembled. */
export interface RoomDeps {
  readonly peers: RoomPeers;
  /** Whether a local account exists (the accounts domain's table). */
  readonly userExists: (q: Queryable, userId: string) => Promise<boolean>;
  /**
   * A local user joined a room shared with the local users `others`, inside the join's write:
   * they hear of each other's device lists (client-server spec, device_lists.changed).
   */
  readonly joined: (tx: WriteTransaction, userId: string, others: readonly string[]) => Promise<void>;
}
