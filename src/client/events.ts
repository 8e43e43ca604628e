// What the SDK hands to the app: decrypted messages, state and membership as the MLS group sees
// them, the outcome of every commit, and errors it could not recover from.
import type { VerificationLevel } from "./device/verification.js";

export interface DeviceRef {
  readonly userId: string;
  readonly deviceId: string;
}

export interface TimelineMessage {
  readonly roomId: string;
  readonly eventId: string;
  readonly sender: DeviceRef;
  readonly type: string;
  readonly content: Readonly<Record<string, unknown>>;
  readonly originServerTs: number;
  /** Sent by this device (we keep our own plaintext: MLS cannot decrypt one's own message). */
  readonly own: boolean;
}

/** What the user asked for that needed a commit. */
export type CommitIntent =
  | { readonly kind: "create" }
  | { readonly kind: "invite"; readonly userId: string }
  | { readonly kind: "addDevice"; readonly userId: string; readonly deviceId: string }
  | { readonly kind: "remove"; readonly userId: string; readonly deviceId?: string }
  | { readonly kind: "setState"; readonly eventType: string; readonly stateKey: string }
  | { readonly kind: "selfUpdate" }
  | { readonly kind: "rewelcome"; readonly userId: string; readonly deviceId: string }
  | { readonly kind: "federation" }
  | { readonly kind: "commitProposals" };

export type CommitOutcome =
  /** Our commit came back as the accepted commit of its epoch. */
  | "accepted"
  /** Another commit won the epoch; ours was dropped and the intent is being tried again. */
  | "retrying"
  /** Another commit won the epoch and the intent no longer makes sense (or already happened). */
  | "dropped";

export type ClientEvent =
  | ({ readonly kind: "message" } & TimelineMessage)
  | {
      readonly kind: "state";
      readonly roomId: string;
      readonly eventType: string;
      readonly stateKey: string;
      readonly content: Readonly<Record<string, unknown>> | undefined;
    }
  | {
      readonly kind: "membership";
      readonly roomId: string;
      readonly added: readonly DeviceRef[];
      readonly removed: readonly DeviceRef[];
    }
  | { readonly kind: "invite"; readonly roomId: string; readonly inviter?: string }
  | { readonly kind: "joined"; readonly roomId: string }
  | { readonly kind: "removed"; readonly roomId: string }
  /** Another commit won a fork (section 5) and our group is on the losing side: we asked to be welcomed again. */
  | { readonly kind: "resync"; readonly roomId: string; readonly winningCommit: string }
  | {
      readonly kind: "commit";
      readonly roomId: string;
      readonly intent: CommitIntent;
      readonly outcome: CommitOutcome;
      /** The group's epoch after the commit that decided the outcome. */
      readonly epoch: number;
      readonly detail?: string;
    }
  | {
      readonly kind: "error";
      readonly roomId?: string;
      readonly eventId?: string;
      /** `undecryptable`: a room message we cannot read; `sync`: the homeserver could not be synced. */
      readonly error: "undecryptable" | "welcome" | "sync";
      readonly reason: string;
    };

export type ClientListener = (event: ClientEvent) => void;

export interface RoomSummary {
  readonly roomId: string;
  /** Network membership, as the homeserver tracks it (section 7). */
  readonly membership: "invited" | "joined" | "left";
  /** This device is no longer in the room's MLS group (removed, or left). */
  readonly removed: boolean;
  readonly name?: string;
  readonly topic?: string;
  /** The MLS epoch this device is in; undefined before a Welcome arrived. */
  readonly epoch?: number;
  readonly memberCount: number;
  readonly inviter?: string;
}

export interface Member extends DeviceRef {
  readonly leafIndex: number;
  /** How well this device is verified (section 3 levels); `own` for this very device. */
  readonly verification: VerificationLevel | "own" | "unverified";
}

export interface InviteResult {
  readonly added: readonly DeviceRef[];
  /** Devices left out and why (required_verification not met, no key package, ...). */
  readonly skipped: readonly (DeviceRef & { readonly reason: string })[];
}
