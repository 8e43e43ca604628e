// The parts of a /sync response the SDK reads (MLS rooms: D22 events, D23 timelines).
import type { CURRENT_COMMIT_SYNC_FIELD } from "../../protocol/names.js";
import type { RoomEvent } from "../rooms/roomRecord.js";

export interface SyncResponse {
  readonly next_batch: string;
  readonly rooms?: {
    readonly join?: Record<
      string,
      {
        readonly timeline?: {
          readonly events?: RoomEvent[];
          readonly limited?: boolean;
          readonly prev_batch?: string;
        };
        readonly state?: { readonly events?: RoomEvent[] };
        /** The room's current commit (this project's sync extension: docs/client-server-api.md). */
        readonly [CURRENT_COMMIT_SYNC_FIELD]?: string;
      }
    >;
    readonly invite?: Record<
      string,
      {
        readonly invite_state?: {
          readonly events?: {
            type: string;
            sender?: string;
            state_key?: string;
            content: Record<string, unknown>;
          }[];
        };
      }
    >;
    readonly leave?: Record<string, unknown>;
  };
  readonly to_device?: {
    readonly events?: {
      readonly sender: string;
      readonly type: string;
      readonly content: Record<string, unknown>;
    }[];
  };
  readonly device_one_time_keys_count?: Record<string, number>;
  readonly device_unused_fallback_key_types?: string[];
}

/** Sync's timeline filter: enough events per pass that gaps (limited timelines) are rare. */
export const SYNC_FILTER = JSON.stringify({ room: { timeline: { limit: 50 } } });
