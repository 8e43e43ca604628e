// /versions and /capabilities: what a client asks first. Both MLS room versions are offered
// (section 2); no other room version can be created here.
import { DEFAULT_ROOM_VERSION, MLS_ROOM_VERSIONS } from "../../protocol/names.js";
import type { ServerComponent } from "../component.js";
import { requireSession } from "../http/auth.js";

const SPEC_VERSIONS = [
  "v1.1",
  "v1.2",
  "v1.3",
  "v1.4",
  "v1.5",
  "v1.6",
  "v1.7",
  "v1.8",
  "v1.9",
  "v1.10",
  "v1.11",
];

export const versionsComponent: ServerComponent = {
  name: "versions",
  rootRoutes: (app) => {
    app.get("/_matrix/client/versions", async () => ({ versions: SPEC_VERSIONS, unstable_features: {} }));
  },
  clientRoutes: (api, ctx) => {
    api.get("/capabilities", async (request) => {
      await requireSession(ctx, request);
      return {
        capabilities: {
          "m.room_versions": {
            default: DEFAULT_ROOM_VERSION,
            available: Object.fromEntries(MLS_ROOM_VERSIONS.map((version) => [version, "stable"])),
          },
          "m.change_password": { enabled: false },
          "m.set_displayname": { enabled: true },
          "m.set_avatar_url": { enabled: true },
          "m.3pid_changes": { enabled: false },
        },
      };
    });
  },
};
