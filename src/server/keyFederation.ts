// What the keys domain (keys/) needs of federation, as the domain sees it: announcing a local
// user's device list changes to the servers sharing a room with them, and asking another server
// for its users' keys. federation/edus/keyFederation.ts implements it; server.ts puts it in the
// ServerContext, so the domain never imports federation code. It lives beside federationTypes.ts,
// not in keys/, because the context names it and every folder reads the context.
import type { JsonObject } from "./json.js";
import type { WriteTransaction } from "./storage/database.js";

/** One m.device_list_update (server-server spec) of a local user's device. */
export interface DeviceListUpdate {
  readonly userId: string;
  readonly deviceId: string;
  /** The change's stream position (markDeviceListChanged). */
  readonly streamId: number;
  /** The user's previous stream_id, if the list changed before. */
  readonly prevId: number | undefined;
  /** The device's keys as other servers see them now; absent when deleted or without keys. */
  readonly keys?: JsonObject;
  readonly deleted?: boolean;
}

/** The master and self-signing keys as other servers see them (m.signing_key_update). */
export interface PublishedSigningKeys {
  readonly master_key?: JsonObject;
  readonly self_signing_key?: JsonObject;
}

export interface UserKeysRequestOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

export interface KeyFederation {
  /** Queues the update, in the write that made the change, for every server sharing a room. */
  announceDeviceChange(tx: WriteTransaction, update: DeviceListUpdate): Promise<void>;
  /** Queues an m.signing_key_update, in the write that changed the keys. */
  announceSigningKeys(tx: WriteTransaction, userId: string, keys: PublishedSigningKeys): Promise<void>;
  /**
   * POST /user/keys/query or /user/keys/claim to `server`; the answer as it came. Rejects with
   * KeyServerError when the server refused or could not be reached.
   */
  requestUserKeys(
    server: string,
    request: "query" | "claim",
    body: JsonObject,
    options: UserKeysRequestOptions,
  ): Promise<unknown>;
}

/** Another server gave no usable answer to a keys request. */
export class KeyServerError extends Error {
  override readonly name = "KeyServerError";
  constructor(
    /** The HTTP status of its refusal, or 0 when there was none (unreachable, timeout, garbage). */
    readonly status: number,
    readonly errcode: string,
    message: string,
  ) {
    super(message);
  }
}
