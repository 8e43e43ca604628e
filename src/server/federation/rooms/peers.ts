// The rooms domain's view of other servers (rooms/ports.ts RoomPeers), over the federation
// client, the remote key cache and the outbound queue.
import type { RoomPeers } from "../../rooms/ports.js";
import type { Federation } from "../../federationTypes.js";

/** Where remote invites go (section 7, D15; unstable while MSC4256 is). */
export const INVITE_PATH = "/_matrix/federation/unstable/de.bwi.mls/invite";

export function federationRoomPeers(federation: Federation): RoomPeers {
  const { client, keys, outbound } = federation;
  return {
    enqueuePdu: (tx, destinations, eventId) => outbound.enqueuePdu(tx, destinations, eventId),
    wake: () => outbound.wake(),
    fetchAuthChain: async (server, roomId, eventId) => {
      const reply = await client.request<{ auth_chain?: unknown }>(
        server,
        "GET",
        `/_matrix/federation/v1/event_auth/${encodeURIComponent(roomId)}/${encodeURIComponent(eventId)}`,
      );
      return Array.isArray(reply.auth_chain) ? reply.auth_chain : [];
    },
    fetchMissingEvents: async (server, roomId, query) => {
      const reply = await client.request<{ events?: unknown }>(
        server,
        "POST",
        `/_matrix/federation/v1/get_missing_events/${encodeURIComponent(roomId)}`,
        {
          body: {
            earliest_events: query.earliestEvents,
            latest_events: query.latestEvents,
            limit: query.limit,
          },
        },
      );
      return Array.isArray(reply.events) ? reply.events : [];
    },
    fetchEvent: async (server, eventId) => {
      const reply = await client.request<{ pdus?: unknown }>(
        server,
        "GET",
        `/_matrix/federation/v1/event/${encodeURIComponent(eventId)}`,
      );
      return Array.isArray(reply.pdus) ? (reply.pdus[0] as unknown) : undefined;
    },
    sendInvite: async (server, roomId, invitee, invite) => {
      const inviteId = `${encodeURIComponent(roomId)}/${encodeURIComponent(invitee)}`;
      await client.request(server, "PUT", `${INVITE_PATH}/${inviteId}`, { body: invite });
    },
    verifyKey: (server, keyId, atTs) => keys.verifyKey(server, keyId, atTs),
  };
}
