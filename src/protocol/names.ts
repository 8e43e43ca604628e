// Section 2: the two name sets. A room's version fixes which set it uses; the sets never mix.

export interface RoomVersionNames {
  readonly roomVersion: string;
  readonly commitType: string;
  readonly pendingType: string;
  /** D1: `*.proposed_commit` is read as the pending commit type; servers only ever send `pendingType`. */
  readonly proposedCommitAlias: string;
  /** Algorithm, key and credential prefix, ending in a dot. */
  readonly prefix: string;
}

export const STABLE_NAMES: RoomVersionNames = {
  roomVersion: "m.mls.1",
  commitType: "m.mls.commit",
  pendingType: "m.mls.pending_commit",
  proposedCommitAlias: "m.mls.proposed_commit",
  prefix: "m.mls.v1.",
};

export const UNSTABLE_NAMES: RoomVersionNames = {
  roomVersion: "de.bwi.mls.v1",
  commitType: "de.bwi.mls.commit",
  pendingType: "de.bwi.mls.pending_commit",
  proposedCommitAlias: "de.bwi.mls.proposed_commit",
  prefix: "de.bwi.mls.v1.",
};

/** New rooms use the unstable names while the proposal is unstable (section 2). */
export const DEFAULT_ROOM_VERSION = UNSTABLE_NAMES.roomVersion;

export const MLS_ROOM_VERSIONS: readonly string[] = [UNSTABLE_NAMES.roomVersion, STABLE_NAMES.roomVersion];

export const CREATE_EVENT_TYPE = "m.room.create";
export const ENCRYPTED_EVENT_TYPE = "m.room.encrypted";

/** Ciphersuite 1, which every implementation must support. */
export const MANDATORY_CIPHERSUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

export function namesForRoomVersion(roomVersion: string): RoomVersionNames | undefined {
  if (roomVersion === STABLE_NAMES.roomVersion) return STABLE_NAMES;
  if (roomVersion === UNSTABLE_NAMES.roomVersion) return UNSTABLE_NAMES;
  return undefined;
}

export function isMlsRoomVersion(roomVersion: unknown): boolean {
  return typeof roomVersion === "string" && namesForRoomVersion(roomVersion) !== undefined;
}

/** The default algorithm of a room version: its prefix plus ciphersuite 1. */
export function defaultAlgorithm(names: RoomVersionNames): string {
  return names.prefix + MANDATORY_CIPHERSUITE;
}

export type MlsEventKind = "create" | "commit" | "pending" | "encrypted";

/** Which of the four event types (D4) `type` is in a room with these names; undefined for any other. */
export function eventKind(names: RoomVersionNames, type: string): MlsEventKind | undefined {
  if (type === CREATE_EVENT_TYPE) return "create";
  if (type === ENCRYPTED_EVENT_TYPE) return "encrypted";
  if (type === names.commitType) return "commit";
  if (type === names.pendingType || type === names.proposedCommitAlias) return "pending";
  return undefined;
}

/** D12: the errcode of a refusal for an epoch that is not the next one. */
export const EPOCH_MISMATCH_ERRCODE = "DE.BWI.MLS_EPOCH_MISMATCH";

/**
 * This project's sync extension (docs/client-server-api.md): a joined room's current commit, so
 * that a client learns which commit won a fork (section 5).
 */
export const CURRENT_COMMIT_SYNC_FIELD = "de.bwi.mls.current_commit";
