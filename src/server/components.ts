// Every component of the homeserver, in start-up order. Add new components here.
import { accountsComponent } from "./api/accounts.js";
import { keysComponent } from "./api/keys.js";
import { roomsComponent } from "./api/rooms.js";
import { syncComponent } from "./api/sync.js";
import { toDeviceComponent } from "./api/toDevice.js";
import { versionsComponent } from "./api/versions.js";
import type { ServerComponent } from "./component.js";
import { getFilter } from "./services/filters.js";
import { acknowledgeToDevice, keysSyncPart } from "./services/keysSync.js";
import { sessionMigrations } from "./services/sessions.js";

export const components: readonly ServerComponent[] = [
  { name: "sessions", migrations: sessionMigrations },
  versionsComponent,
  accountsComponent,
  roomsComponent,
  keysComponent,
  toDeviceComponent,
  syncComponent({
    parts: [keysSyncPart],
    // The client holds every to-device message up to `since` once it syncs with it.
    acknowledge: (ctx, input) => acknowledgeToDevice(ctx, input.userId, input.deviceId, input.since),
    storedFilter: getFilter,
  }),
];
