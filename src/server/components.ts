// Every component of the homeserver, in start-up order. Add new components here.
import { accountsComponent } from "./api/accounts.js";
import { keysComponent } from "./api/keys.js";
import { roomsComponent } from "./api/rooms.js";
import { syncComponent } from "./api/sync.js";
import { toDeviceComponent } from "./api/toDevice.js";
import { versionsComponent } from "./api/versions.js";
import { transportComponent, type FederationComponent } from "./federation/transport/federationComponent.js";
import { outboundMigrations } from "./federation/outbound/schema.js";
import { eduHandlers, keysFederationRoutes } from "./federation/edus/index.js";
import { federationRoomPeers } from "./federation/rooms/peers.js";
import { roomFederation } from "./federation/rooms/roomFederation.js";
import type { ServerContext } from "./context.js";
import { createRooms, type Rooms } from "./rooms/rooms.js";
import { accountExists } from "./services/accounts.js";
import { markDeviceListChanged } from "./keys/deviceLists.js";
import { getFilter } from "./services/filters.js";
import { acknowledgeToDevice, keysSyncPart } from "./services/keysSync.js";
import { startPruning } from "./services/retention.js";
import { sessionMigrations } from "./auth/sessions.js";

/** One rooms domain per server, shared by its client API and federation edges. */
const roomsByServer = new WeakMap<ServerContext, Rooms>();
function roomsOf(ctx: ServerContext): Rooms {
  let rooms = roomsByServer.get(ctx);
  if (rooms === undefined) {
    rooms = createRooms(ctx, {
      peers: federationRoomPeers(ctx.federation),
      userExists: accountExists,
      joined: async (tx, userId, others) => {
        await markDeviceListChanged(tx, userId);
        for (const other of others) await markDeviceListChanged(tx, other, userId);
      },
    });
    roomsByServer.set(ctx, rooms);
  }
  return rooms;
}

export const components: readonly FederationComponent[] = [
  { name: "sessions", migrations: sessionMigrations },
  versionsComponent,
  accountsComponent,
  roomsComponent(roomsOf),
  keysComponent,
  toDeviceComponent,
  syncComponent({
    parts: [keysSyncPart],
    // The client holds every to-device message up to `since` once it syncs with it.
    acknowledge: (ctx, input) => acknowledgeToDevice(ctx, input.userId, input.deviceId, input.since),
    storedFilter: getFilter,
  }),
  transportComponent,
  { name: "federation_outbound", migrations: outboundMigrations },

  {
    name: "federation_edus",
    federation: (ctx) => ({
      routes: keysFederationRoutes(ctx),
      registerHandlers: (handlers) => {
        for (const [type, handler] of Object.entries(eduHandlers(ctx)))
          handlers.registerEduHandler(type, handler);
      },
    }),
  },
  {
    name: "federation_rooms",
    federation: (ctx) => roomFederation(ctx, roomsOf(ctx)),
  },
  {
    // Not federation as such: the participant's start and close run the pruning job with the server.
    name: "retention",
    federation: (ctx) => {
      let job: ReturnType<typeof startPruning> | undefined;
      return {
        start: () => {
          job = startPruning(ctx);
        },
        close: async () => job?.close(),
      };
    },
  },
];
