// /sync for MLS rooms: joined rooms' timelines (D22 event shape, D23 timeline start), invites as
// stripped state, left rooms, plus the parts other components contribute (to-device, keys).
import {
  CREATE_EVENT_TYPE,
  CURRENT_COMMIT_SYNC_FIELD,
  STABLE_NAMES,
  UNSTABLE_NAMES,
} from "../../protocol/names.js";
import type { ServerContext } from "../context.js";
import { rowToClientEvent, type ClientEvent } from "../rooms/clientEvents.js";
import { loadRoom } from "../rooms/roomState.js";
import {
  commitBefore,
  eventsBefore,
  getEvent,
  getRoom,
  membershipsOf,
  type MembershipRow,
} from "../rooms/roomStore.js";
import { roomAllowed, typeAllowed, type SyncFilter } from "./syncFilter.js";
import { toClientEvent } from "../rooms/clientEvents.js";

export interface SyncInput {
  readonly userId: string;
  readonly deviceId: string;
  /** Absent for an initial sync. */
  readonly since?: number;
  readonly fullState: boolean;
  readonly filter: SyncFilter;
}

/** A part of the sync response contributed by another component for positions (since, upto]. */
export type SyncPart = (
  ctx: ServerContext,
  input: { userId: string; deviceId: string; since: number; upto: number },
) => Promise<Record<string, unknown>>;

export interface SyncResult {
  readonly response: Record<string, unknown>;
  /** True when nothing in it is new to the client, so a long poll should keep waiting. */
  readonly empty: boolean;
}

interface JoinedRoomSync {
  timeline: { events: ClientEvent[]; limited: boolean; prev_batch: string };
  [CURRENT_COMMIT_SYNC_FIELD]?: string;
  state: { events: ClientEvent[] };
  ephemeral: { events: never[] };
  account_data: { events: never[] };
  unread_notifications: Record<string, never>;
}

async function joinedRoom(
  ctx: ServerContext,
  membership: MembershipRow,
  input: SyncInput,
  upto: number,
  now: number,
): Promise<JoinedRoomSync | undefined> {
  const fresh = input.since === undefined || membership.position > input.since || input.fullState;
  // D23: a joined user sees the timeline from where the invite reached this server.
  const lower = Math.max(
    fresh ? membership.timeline_from - 1 : (input.since as number),
    membership.timeline_from - 1,
  );
  const limit = input.filter.timelineLimit;
  const newestFirst = await eventsBefore(ctx.db, membership.room_id, upto + 1, lower + 1, limit + 1);
  const limited = newestFirst.length > limit;
  const rows = newestFirst.slice(0, limit).reverse();
  if (!fresh && rows.length === 0) return undefined;
  const first = rows[0];
  const state: ClientEvent[] = [];
  if (fresh || limited) {
    const room = await loadRoom(ctx.db, membership.room_id);
    const start = first?.position ?? upto + 1;
    const inTimeline = new Set(rows.map((row) => row.event_id));
    if (room && !inTimeline.has(room.row.create_event_id)) {
      state.push(toClientEvent(room.state.create.eventId, room.state.create.pdu, { withRoomId: false, now }));
    }
    const commit = room
      ? await commitBefore(ctx.db, membership.room_id, room.names.commitType, start)
      : undefined;
    if (commit && !inTimeline.has(commit.event_id))
      state.push(rowToClientEvent(commit, { withRoomId: false, now }));
  }
  const timeline = rows.map((row) => rowToClientEvent(row, { withRoomId: false, now }));
  const events = timeline.filter((event) => typeAllowed(input.filter, event.type));
  // A room reads its current commit only when the client may need it: most passes carry messages.
  const hasCommit = timeline.some((event) => COMMIT_TYPES.has(event.type));
  const current =
    fresh || limited || hasCommit
      ? await currentCommitUpTo(ctx, (await getRoom(ctx.db, membership.room_id))?.current_commit_id, upto)
      : undefined;
  return {
    timeline: { events, limited, prev_batch: String(first ? first.position - 1 : lower) },
    ...(current ? { [CURRENT_COMMIT_SYNC_FIELD]: current } : {}),
    state: { events: state },
    ephemeral: { events: [] },
    account_data: { events: [] },
    unread_notifications: {},
  };
}

const COMMIT_TYPES: ReadonlySet<string> = new Set([STABLE_NAMES.commitType, UNSTABLE_NAMES.commitType]);

/** The current commit if this response's timeline reaches it; a newer one comes with the next. */
async function currentCommitUpTo(ctx: ServerContext, eventId: string | null | undefined, upto: number) {
  if (!eventId) return undefined;
  const row = await getEvent(ctx.db, eventId);
  return row && row.position <= upto ? eventId : undefined;
}

async function invitedRoom(ctx: ServerContext, membership: MembershipRow) {
  const create = (await loadRoom(ctx.db, membership.room_id))?.state.create;
  // D22: the stripped create event, and a stripped invite naming inviter (sender) and invitee.
  const events: Record<string, unknown>[] = [];
  if (create) events.push({ type: CREATE_EVENT_TYPE, state_key: "", content: create.pdu.content });
  events.push({
    type: "m.room.member",
    state_key: membership.user_id,
    sender: membership.inviter,
    content: { membership: "invite" },
  });
  return { invite_state: { events } };
}

export async function computeSync(
  ctx: ServerContext,
  input: SyncInput,
  upto: number,
  parts: readonly SyncPart[],
): Promise<SyncResult> {
  const now = ctx.clock.now();
  const join: Record<string, JoinedRoomSync> = {};
  const invite: Record<string, unknown> = {};
  const leave: Record<string, unknown> = {};
  for (const membership of await membershipsOf(ctx.db, input.userId)) {
    if (!roomAllowed(input.filter, membership.room_id) || membership.position > upto) continue;
    const changed = input.since === undefined || membership.position > input.since;
    if (membership.membership === "join") {
      const room = await joinedRoom(ctx, membership, input, upto, now);
      if (room) join[membership.room_id] = room;
    } else if (membership.membership === "invite" && changed) {
      invite[membership.room_id] = await invitedRoom(ctx, membership);
    } else if (
      membership.membership === "leave" &&
      changed &&
      (input.since !== undefined || input.filter.includeLeave)
    ) {
      leave[membership.room_id] = { timeline: { events: [], limited: false }, state: { events: [] } };
    }
  }
  const response: Record<string, unknown> = {
    next_batch: String(upto),
    rooms: { join, invite, leave },
    account_data: { events: [] },
    presence: { events: [] },
  };
  let contributed = false;
  for (const part of parts) {
    const fields = await part(ctx, {
      userId: input.userId,
      deviceId: input.deviceId,
      since: input.since ?? 0,
      upto,
    });
    if (hasNews(fields)) contributed = true;
    Object.assign(response, fields);
  }
  const roomNews = Object.keys(join).length + Object.keys(invite).length + Object.keys(leave).length > 0;
  return { response, empty: !roomNews && !contributed };
}

/** New to-device events or device-list changes wake a long poll; key counts alone do not. */
function hasNews(fields: Record<string, unknown>): boolean {
  const toDevice = fields.to_device as { events?: unknown[] } | undefined;
  const deviceLists = fields.device_lists as { changed?: unknown[]; left?: unknown[] } | undefined;
  return (
    (toDevice?.events?.length ?? 0) > 0 ||
    (deviceLists?.changed?.length ?? 0) > 0 ||
    (deviceLists?.left?.length ?? 0) > 0
  );
}
