// Every component of the homeserver, in start-up order. Add new components here.
import { roomsComponent } from "./api/rooms.js";
import { syncComponent } from "./api/sync.js";
import { versionsComponent } from "./api/versions.js";
import type { ServerComponent } from "./component.js";
import { sessionMigrations } from "./services/sessions.js";

export const components: readonly ServerComponent[] = [
  { name: "sessions", migrations: sessionMigrations },
  versionsComponent,
  roomsComponent,
  syncComponent({ parts: [], storedFilter: async () => undefined }),
];
