// Access tokens. Only their SHA-256 is stored, so a leaked database does not leak sessions;
// a small cache keeps the per-request lookup off the database.
import { createHash, randomBytes } from "node:crypto";
import type { Database, Migrations, WriteTransaction } from "../storage/database.js";
import { missingToken, unknownToken } from "../errors.js";

export const sessionMigrations: Migrations = {
  component: "sessions",
  versions: [
    [
      "CREATE TABLE access_tokens (token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL, device_id TEXT NOT NULL, created_ts BIGINT NOT NULL)",
      "CREATE INDEX access_tokens_device ON access_tokens (user_id, device_id)",
    ],
  ],
};

export interface Session {
  readonly userId: string;
  readonly deviceId: string;
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("base64url");
}

const CACHE_LIMIT = 10_000;

export class Sessions {
  private readonly cache = new Map<string, Session>();

  constructor(private readonly db: Database) {}

  /** Creates a token for a device inside the caller's write job; returns the token (shown once). */
  async create(tx: WriteTransaction, session: Session, now: number): Promise<string> {
    const token = `myl_${randomBytes(32).toString("base64url")}`;
    await tx.run(
      "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES (?, ?, ?, ?)",
      [hashToken(token), session.userId, session.deviceId, now],
    );
    return token;
  }

  /** Revokes every token of a device (logout, device deletion). */
  async revokeDevice(tx: WriteTransaction, userId: string, deviceId: string): Promise<void> {
    await tx.run("DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
    for (const [hash, session] of this.cache) {
      if (session.userId === userId && session.deviceId === deviceId) this.cache.delete(hash);
    }
  }

  /** The session of a token, or M_MISSING_TOKEN / M_UNKNOWN_TOKEN. */
  async authenticate(token: string | undefined): Promise<Session> {
    if (token === undefined || token === "") throw missingToken();
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    if (cached) return cached;
    const row = await this.db.get<{ user_id: string; device_id: string }>(
      "SELECT user_id, device_id FROM access_tokens WHERE token_hash = ?",
      [hash],
    );
    if (row === undefined) throw unknownToken();
    const session = { userId: row.user_id, deviceId: row.device_id };
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(hash, session);
    return session;
  }
}
