// The rooms domain, assembled once per server: local sends and membership, /messages, what
// clients read, inbound PDUs and invites from other servers, serving rooms to them, and the
// pending commit scheduler (sections 5-7). The client API (api/rooms.ts) and the federation
// routes (federation/rooms/) are thin edges over this; what it needs from outside is `RoomDeps`.
import type { AuthEvent } from "../../protocol/auth/authEvent.js";
import type { Pdu } from "../../protocol/pdu/types.js";
import type { JsonObject } from "../json.js";
import type { ClientEvent } from "./clientEvents.js";
import { joinedRooms, requireMember, roomEvent, roomStateEvent, roomStateEvents } from "./clientReads.js";
import { RoomInbound } from "./inbound.js";
import { acceptRemoteInvite } from "./inboundInvite.js";
import { createRoom, invite, join, leave, sendRoomEvent, type SendRequest } from "./localSends.js";
import { roomMessages, type MessagesPage, type MessagesQuery } from "./messages.js";
import type { RemoteInvite } from "./outboundInvite.js";
import { PendingCommitScheduler } from "./pendingCommits.js";
import type { RoomDeps, RoomUser, RoomsContext } from "./ports.js";
import {
  serveAuthChain,
  serveBackfill,
  serveEvent,
  serveMissingEvents,
  serveStateIds,
  type MissingEventsRequest,
} from "./serve.js";

export interface Rooms {
  // Local clients (sections 6, 7, 10).
  createRoom(user: RoomUser, body: Readonly<JsonObject>): Promise<string>;
  send(user: RoomUser, request: SendRequest): Promise<string>;
  invite(user: RoomUser, roomId: string, userId: string): Promise<void>;
  join(user: RoomUser, roomId: string): Promise<void>;
  leave(user: RoomUser, roomId: string): Promise<void>;
  joinedRooms(userId: string): Promise<string[]>;
  stateEvents(roomId: string, userId: string): Promise<ClientEvent[]>;
  stateEvent(roomId: string, userId: string, eventType: string, stateKey: string): Promise<AuthEvent>;
  event(roomId: string, userId: string, eventId: string): Promise<ClientEvent>;
  requireMember(roomId: string, userId: string): Promise<void>;
  messages(roomId: string, userId: string, query: MessagesQuery): Promise<MessagesPage>;
  // Other servers (sections 5, 7).
  /** The /send transaction's PDUs, each checked, accepted ones stored together. */
  receivePdus(origin: string, pdus: readonly unknown[]): Promise<Record<string, { error?: string }>>;
  acceptInvite(origin: string, invite: RemoteInvite, signed: JsonObject): Promise<void>;
  serveEvent(origin: string, eventId: string): Promise<Pdu>;
  serveAuthChain(origin: string, roomId: string, eventId: string): Promise<Pdu[]>;
  serveStateIds(
    origin: string,
    roomId: string,
    eventId: string | undefined,
  ): Promise<{ pdu_ids: string[]; auth_chain_ids: string[] }>;
  serveBackfill(origin: string, roomId: string, starts: readonly string[], limit: number): Promise<Pdu[]>;
  serveMissingEvents(origin: string, roomId: string, request: MissingEventsRequest): Promise<Pdu[]>;
  /** Starts the pending commit scheduler (once the server listens). */
  start(): void;
  close(): Promise<void>;
}

export function createRooms(ctx: RoomsContext, deps: RoomDeps): Rooms {
  const scheduler = new PendingCommitScheduler(ctx, deps.peers);
  const inbound = new RoomInbound(ctx, deps.peers, () => scheduler.poke());
  return {
    createRoom: (user, body) => createRoom(ctx, user, body),
    send: (user, request) => sendRoomEvent(ctx, deps, user, request),
    invite: (user, roomId, userId) => invite(ctx, deps, user, roomId, userId),
    join: (user, roomId) => join(ctx, deps, user, roomId),
    leave: (user, roomId) => leave(ctx, user, roomId),
    joinedRooms: (userId) => joinedRooms(ctx, userId),
    stateEvents: (roomId, userId) => roomStateEvents(ctx, roomId, userId),
    stateEvent: (roomId, userId, eventType, stateKey) =>
      roomStateEvent(ctx, roomId, userId, eventType, stateKey),
    event: (roomId, userId, eventId) => roomEvent(ctx, roomId, userId, eventId),
    requireMember: (roomId, userId) => requireMember(ctx, roomId, userId),
    messages: (roomId, userId, query) => roomMessages(ctx, roomId, userId, query),
    receivePdus: (origin, pdus) => inbound.receivePdus(origin, pdus),
    acceptInvite: (origin, remote, signed) => acceptRemoteInvite(ctx, deps, inbound, origin, remote, signed),
    serveEvent: (origin, eventId) => serveEvent(ctx, origin, eventId),
    serveAuthChain: (origin, roomId, eventId) => serveAuthChain(ctx, origin, roomId, eventId),
    serveStateIds: (origin, roomId, eventId) => serveStateIds(ctx, origin, roomId, eventId),
    serveBackfill: (origin, roomId, starts, limit) => serveBackfill(ctx, origin, roomId, starts, limit),
    serveMissingEvents: (origin, roomId, request) => serveMissingEvents(ctx, origin, roomId, request),
    start: () => scheduler.start(),
    close: () => scheduler.close(),
  };
}
