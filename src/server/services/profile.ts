// Global profiles of local users: display name and avatar. MLS rooms have no member events
// (section 7) and no per-room profiles (section 11), so a change touches nothing else.
import { isValidServerName } from "../../protocol/serverName.js";
import type { ServerContext } from "../context.js";
import { invalidParam } from "../errors.js";
import type { Queryable } from "../storage/database.js";

export interface Profile {
  readonly displayname?: string;
  readonly avatar_url?: string;
}

export type ProfileField = keyof Profile;

const MAX_DISPLAY_NAME = 256;
const MEDIA_ID = /^[A-Za-z0-9_-]+$/;

/** The profile of a local user, or undefined when there is no such user. */
export async function getProfile(db: Queryable, userId: string): Promise<Profile | undefined> {
  const row = await db.get<{ displayname: string | null; avatar_url: string | null }>(
    "SELECT displayname, avatar_url FROM users WHERE user_id = ?",
    [userId],
  );
  if (row === undefined) return undefined;
  return {
    ...(row.displayname !== null && { displayname: row.displayname }),
    ...(row.avatar_url !== null && { avatar_url: row.avatar_url }),
  };
}

function isMxcUri(value: string): boolean {
  const match = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(value);
  return match !== null && isValidServerName(match[1] ?? "") && MEDIA_ID.test(match[2] ?? "");
}

/** Checks a new value of a profile field; the empty string clears the field. */
export function checkProfileValue(field: ProfileField, value: string): void {
  if (value === "") return;
  if (field === "displayname" && value.length > MAX_DISPLAY_NAME) {
    throw invalidParam(`Display names are limited to ${MAX_DISPLAY_NAME} characters`);
  }
  if (field === "avatar_url" && !isMxcUri(value)) throw invalidParam("avatar_url must be an mxc:// URI");
}

/** Sets (or, with "", clears) a field of an existing local user's profile. */
export async function setProfileField(
  ctx: ServerContext,
  userId: string,
  field: ProfileField,
  value: string,
): Promise<void> {
  const column = field === "displayname" ? "displayname" : "avatar_url";
  await ctx.db.write((tx) =>
    tx.run(`UPDATE users SET ${column} = ? WHERE user_id = ?`, [value === "" ? null : value, userId]),
  );
}
