// What the SDK remembers of a room besides its MLS group state: network membership, the
// federation object of the current commit, our commit in flight, and bookkeeping for
// security.window. Stored as JSON in the client store; group states are stored as bytes beside it.
// A record is an immutable value: a change makes a new record (roomReducer.ts), which is stored.
import type { FederationObject } from "../../protocol/federationObject.js";
import type { CommitIntent, DeviceRef } from "../events.js";
import type { RoomEvent } from "../wire/sync.js";

export type { RoomEvent } from "../wire/sync.js";

export interface ClaimedKeyPackage extends DeviceRef {
  /** D20 key package string, kept so a retried invite needs no second claim. */
  readonly keyPackage: string;
}

/** Our commit in flight: sent, not yet seen accepted or beaten (section 6). */
export interface PendingCommitRecord {
  readonly id: string;
  /** The epoch the commit is framed in (the group's epoch when it was made). */
  readonly epoch: number;
  readonly intent: CommitIntent;
  readonly ciphertext: string;
  readonly welcome?: string;
  /** Devices the commit adds: they get the Welcome once it is accepted. */
  readonly added: readonly ClaimedKeyPackage[];
  /** Users to /invite once it is accepted. */
  readonly inviteUsers: readonly string[];
  readonly federation: FederationObject;
}

/** A member that asked to leave with a Remove proposal for itself (section 7). */
export type Leaver = DeviceRef;

/** After our commit was accepted: the Welcome to the added devices, then /invite (section 7). */
export interface Delivery {
  readonly id: string;
  readonly welcome?: string;
  readonly devices: readonly DeviceRef[];
  readonly inviteUsers: readonly string[];
}

export interface RoomRecord {
  readonly roomId: string;
  readonly roomVersion?: string;
  readonly membership: "invited" | "joined" | "left";
  readonly inviter?: string;
  readonly federation?: FederationObject;
  /** The commit this device's group state follows (the last one it adopted). */
  readonly currentCommitId?: string;
  /** Our group fell on the losing side of a fork: we asked these members to welcome us again. */
  readonly rewelcome?: {
    readonly keyPackage: string;
    readonly to: readonly DeviceRef[];
    readonly sentAt: number;
  };
  /** Server's event ID of the last room event processed. */
  readonly lastEventId?: string;
  /** When this device left each past epoch (ms), for security.window. */
  readonly epochLeftAt: Readonly<Record<string, number>>;
  /** The last commit removed one member without an update path (ts-mls rc.10): refresh before sending. */
  readonly needsPathUpdate: boolean;
  readonly leavers: readonly Leaver[];
  readonly pending?: PendingCommitRecord;
  /** Welcomes and invites still to send; retried on every sync until they went out. */
  readonly deliveries: readonly Delivery[];
  /** The epoch this device joined at: older messages were never ours to read. */
  readonly joinedEpoch?: number;
  /** Events that arrived before our Welcome: replayed once we are in the group. */
  readonly buffered: readonly RoomEvent[];
  /** We were removed from the MLS group, or left: no group state is kept any more. */
  readonly removed: boolean;
  readonly nextSeq: number;
}

export function newRoomRecord(roomId: string, membership: RoomRecord["membership"]): RoomRecord {
  return {
    roomId,
    membership,
    epochLeftAt: {},
    needsPathUpdate: false,
    leavers: [],
    deliveries: [],
    buffered: [],
    removed: false,
    nextSeq: 0,
  };
}

/** At most this many events are buffered while waiting for a Welcome. */
export const MAX_BUFFERED_EVENTS = 2_000;
