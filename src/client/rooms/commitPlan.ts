// What a commit should do, decided against the group as it is when the commit is made; a retry
// after a lost race decides again (section 6: retry the user's intent where it still makes sense).
import type { FederationObject } from "../../protocol/federationObject.js";
import type { GroupState, RoomStateMap } from "../mls/engine.js";
import type { ClaimedKeyPackage, RoomRecord } from "./roomRecord.js";

export interface CommitPlan {
  readonly federation: FederationObject;
  readonly add?: readonly ClaimedKeyPackage[];
  readonly removeLeafIndices?: readonly number[];
  readonly roomState?: RoomStateMap;
  /** Users to /invite once the commit is accepted. */
  readonly inviteUsers?: readonly string[];
}

/** Returns undefined when there is nothing (left) to do: the intent is dropped. */
export type CommitPlanner = (room: RoomRecord, group: GroupState) => Promise<CommitPlan | undefined>;

/** Section 3: the servers list gains the servers of added users; can_propose follows it. */
export function withServers(federation: FederationObject, servers: readonly string[]): FederationObject {
  const missing = servers.filter((server) => !federation.federation.servers.includes(server));
  if (missing.length === 0) return federation;
  return {
    ...federation,
    federation: {
      ...federation.federation,
      servers: [...federation.federation.servers, ...missing],
      canPropose: [...federation.federation.canPropose, ...missing],
    },
  };
}

export function serverOf(userId: string): string {
  return userId.slice(userId.indexOf(":") + 1);
}
