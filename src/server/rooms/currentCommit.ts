// Section 5: which commit is current once a commit arrives from another server. A commit on top
// of the current one simply becomes current; anything else (a fork, a late sibling) runs state
// resolution over every commit of the room (D11: always one unbroken chain).
import { toAuthEvent, type AuthEvent } from "../../protocol/auth/authEvent.js";
import type { Pdu } from "../../protocol/pdu/types.js";
import { resolveCommitChain, type CommitNode } from "../../protocol/stateResolution.js";
import type { Queryable } from "../storage/database.js";
import { eventsOfType } from "./roomStore.js";

export interface CommitRoom {
  readonly roomId: string;
  readonly createEventId: string;
  readonly commitType: string;
  readonly currentCommitId: string | null;
}

/** The commit a commit builds on: its auth event other than the create event (R4). */
export function parentCommitId(event: AuthEvent, createEventId: string): string | undefined {
  return event.pdu.auth_events.find((id) => id !== createEventId);
}

function commitNode(event: AuthEvent, createEventId: string): CommitNode | undefined {
  if (!event.framing || !event.federation) return undefined;
  return {
    eventId: event.eventId,
    origin: event.pdu.origin,
    originServerTs: event.pdu.origin_server_ts,
    epoch: event.framing.epoch,
    parentId: parentCommitId(event, createEventId),
    powers: event.federation.federation.powers,
  };
}

/** Every commit event of the room. */
export async function roomCommits(q: Queryable, room: CommitRoom): Promise<AuthEvent[]> {
  const rows = await eventsOfType(q, room.roomId, room.commitType);
  return rows.map((row) => toAuthEvent(row.event_id, JSON.parse(row.pdu) as Pdu));
}

/** The current commit once `arrived` (already stored) is taken into account. */
export async function currentCommitAfter(
  q: Queryable,
  room: CommitRoom,
  arrived: AuthEvent,
): Promise<string> {
  const parent = parentCommitId(arrived, room.createEventId);
  if (room.currentCommitId === null ? parent === undefined : parent === room.currentCommitId) {
    return arrived.eventId;
  }
  const nodes = (await roomCommits(q, room)).flatMap((event) => {
    const node = commitNode(event, room.createEventId);
    return node ? [node] : [];
  });
  return resolveCommitChain(nodes)?.current ?? room.currentCommitId ?? arrived.eventId;
}
