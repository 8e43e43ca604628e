// Accounts: users with scrypt password hashes, registration and password login. Devices, profiles
// and filters have their own services; their tables are part of this component's schema.
import { createHash, randomInt, timingSafeEqual } from "node:crypto";
import type { ServerContext } from "../context.js";
import { MatrixError, forbidden, invalidParam, limitExceeded } from "../errors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import type { Migrations, Queryable } from "../storage/database.js";
import { createDevice, type NewDevice } from "./devices.js";
import { loginLimits } from "./loginLimits.js";
import { HashQueueFull } from "../auth/passwords.js";
import type { UiaRequest } from "./uia.js";

export const accountMigrations: Migrations = {
  component: "accounts",
  versions: [
    [
      "CREATE TABLE users (user_id TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created_ts BIGINT NOT NULL, displayname TEXT, avatar_url TEXT)",
      "CREATE TABLE devices (user_id TEXT NOT NULL, device_id TEXT NOT NULL, display_name TEXT, created_ts BIGINT NOT NULL, last_seen_ts BIGINT, last_seen_ip TEXT, PRIMARY KEY (user_id, device_id))",
      "CREATE TABLE filters (user_id TEXT NOT NULL, filter_id BIGINT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (user_id, filter_id))",
    ],
  ],
};

// The user ID grammar of the v1.11 appendix (historical characters are not accepted for new users).
const LOCALPART = /^[a-z0-9._=\-/+]+$/;
const MAX_USER_ID_BYTES = 255;
const MAX_PASSWORD_LENGTH = 512;

export const userInUse = () => new MatrixError(400, "M_USER_IN_USE", "That user ID is already taken");
const invalidUsername = (message: string) => new MatrixError(400, "M_INVALID_USERNAME", message);
const LOGIN_FAILED = "Invalid username or password";

export function userIdOf(ctx: ServerContext, localpart: string): string {
  return `@${localpart}:${ctx.config.serverName}`;
}

/** The localpart of a user ID of this server, or undefined for any other ID. */
export function localpartOf(ctx: ServerContext, userId: string): string | undefined {
  const suffix = `:${ctx.config.serverName}`;
  if (!userId.startsWith("@") || !userId.endsWith(suffix)) return undefined;
  const localpart = userId.slice(1, -suffix.length);
  return LOCALPART.test(localpart) ? localpart : undefined;
}

export async function userExists(ctx: ServerContext, userId: string): Promise<boolean> {
  return accountExists(ctx.db, userId);
}

/** Whether the account exists, read through `q` (a write job's transaction, say). */
export async function accountExists(q: Queryable, userId: string): Promise<boolean> {
  return (await q.get("SELECT 1 AS found FROM users WHERE user_id = ?", [userId])) !== undefined;
}

/** Checks a desired username against the grammar and the taken IDs; returns the localpart. */
export async function checkUsername(ctx: ServerContext, username: string): Promise<string> {
  if (!LOCALPART.test(username)) {
    throw invalidUsername("User names may contain only a-z, 0-9 and . _ = - / +");
  }
  const userId = userIdOf(ctx, username);
  if (Buffer.byteLength(userId) > MAX_USER_ID_BYTES) {
    throw invalidUsername(`User IDs are limited to ${MAX_USER_ID_BYTES} bytes`);
  }
  if (await userExists(ctx, userId)) throw userInUse();
  return username;
}

export function checkNewPassword(password: string): void {
  if (password.length === 0) throw new MatrixError(400, "M_WEAK_PASSWORD", "The password must not be empty");
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw invalidParam(`Passwords are limited to ${MAX_PASSWORD_LENGTH} characters`);
  }
}

/** A registration token check in constant time (tokens are secrets). */
export function isRegistrationToken(ctx: ServerContext, token: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  const given = digest(token);
  let found = false;
  for (const valid of ctx.config.registrationTokens) found = timingSafeEqual(given, digest(valid)) || found;
  return found;
}

function generatedLocalpart(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return "u" + Array.from({ length: 15 }, () => alphabet[randomInt(alphabet.length)]).join("");
}

export interface LoginResult {
  readonly user_id: string;
  readonly access_token?: string;
  readonly device_id?: string;
}

/** Creates the account (and, unless `inhibitLogin`, a device and its access token). */
export async function registerUser(
  ctx: ServerContext,
  input: { localpart?: string; password: string; inhibitLogin: boolean; device: NewDevice },
): Promise<LoginResult> {
  const passwordHash = await hashing(ctx.passwords.hash(input.password));
  const localpart = input.localpart ?? generatedLocalpart();
  const userId = userIdOf(ctx, localpart);
  const now = ctx.clock.now();
  return ctx.db.write(async (tx) => {
    // The name was free when checked; another registration may have taken it since.
    const inserted = await tx.run(
      "INSERT INTO users (user_id, password_hash, created_ts, displayname) VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING",
      [userId, passwordHash, now, localpart],
    );
    if (inserted.changes === 0) throw userInUse();
    if (input.inhibitLogin) return { user_id: userId };
    const deviceId = await createDevice(tx, userId, input.device, now);
    const accessToken = await ctx.sessions.create(tx, { userId, deviceId }, now);
    return { user_id: userId, access_token: accessToken, device_id: deviceId };
  });
}

/**
 * The user ID a login names (a full ID of this server or a localpart, case-insensitively, as
 * registration admits lower case only), or undefined when it cannot be one of ours.
 */
export function userIdForLogin(ctx: ServerContext, user: string): string | undefined {
  let userId = userIdOf(ctx, user.toLowerCase());
  if (user.startsWith("@")) {
    const colon = user.indexOf(":");
    userId = colon < 0 ? user : user.slice(0, colon).toLowerCase() + user.slice(colon);
  }
  return localpartOf(ctx, userId) === undefined ? undefined : userId;
}

/** A full hashing queue is the server being busy: 429 M_LIMIT_EXCEEDED with retry_after_ms. */
async function hashing<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof HashQueueFull) throw limitExceeded(error.retryAfterMs);
    throw error;
  }
}

/**
 * Checks a user's password (login, UIA); unknown users cost as much time as known ones. A user
 * name that failed too often gets M_LIMIT_EXCEEDED before any hashing; a mismatch counts.
 */
export async function checkPassword(ctx: ServerContext, userId: string, password: string): Promise<boolean> {
  const limits = loginLimits(ctx);
  limits.check(userId);
  const row = await ctx.db.get<{ password_hash: string }>(
    "SELECT password_hash FROM users WHERE user_id = ?",
    [userId],
  );
  const stored = row?.password_hash ?? (await hashing(ctx.passwords.decoyHash()));
  const verified = await hashing(ctx.passwords.verify(password, stored));
  const matches = row !== undefined && verified;
  if (!matches) limits.count(userId);
  return matches;
}

/** Password login: a new access token for the (new or reused) device; 403 for any mismatch. */
export async function loginWithPassword(
  ctx: ServerContext,
  input: { user: string; password: string; device: NewDevice },
): Promise<Required<LoginResult>> {
  const userId = userIdForLogin(ctx, input.user);
  if (userId === undefined || !(await checkPassword(ctx, userId, input.password)))
    throw forbidden(LOGIN_FAILED);
  const now = ctx.clock.now();
  return ctx.db.write(async (tx) => {
    const deviceId = await createDevice(tx, userId, input.device, now);
    const accessToken = await ctx.sessions.create(tx, { userId, deviceId }, now);
    return { user_id: userId, access_token: accessToken, device_id: deviceId };
  });
}

/** The user a UIA password stage names, if it names one (identifier or the deprecated `user`). */
function namedUser(auth: JsonObject): unknown {
  if (isJsonObject(auth.identifier)) {
    return auth.identifier.type === "m.id.user" ? auth.identifier.user : null;
  }
  return auth.user;
}

/**
 * UIA with the account password (stage m.login.password) for `action` by the signed-in user, as
 * the spec asks of device deletion and of replacing cross-signing keys. The stage may name the
 * user (full ID or localpart) but no one else.
 */
export function passwordUia(ctx: ServerContext, userId: string, action: string): UiaRequest {
  return {
    action,
    userId,
    flows: [{ stages: ["m.login.password"] }],
    check: async (auth) => {
      const user = namedUser(auth);
      if (user !== undefined && (typeof user !== "string" || userIdForLogin(ctx, user) !== userId)) {
        return { errcode: "M_FORBIDDEN", message: "The password stage must name the signed-in user" };
      }
      if (typeof auth.password !== "string")
        return { errcode: "M_MISSING_PARAM", message: "Missing auth.password" };
      return (await checkPassword(ctx, userId, auth.password))
        ? undefined
        : { errcode: "M_FORBIDDEN", message: "Invalid password" };
    },
  };
}
