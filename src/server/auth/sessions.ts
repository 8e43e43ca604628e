// Access tokens. Only their SHA-256 is stored, so a leaked database does not leak sessions;
// a small cache keeps the per-request lookup off the database. A revoked token must fail at once
// on every backend, so a lookup whose read overlapped a revocation never fills the cache (its row
// may be one the uncommitted delete had not yet hidden).
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
  /** Counts revocations; a lookup caches its row only if this did not change while it read. */
  private revocations = 0;

  constructor(private readonly db: Database) {}

  /** Creates a token for a device inside the caller's write job; returns the token (shown once). */
  async create(tx: WriteTransaction, session: Session, now: number): Promise<string> {
    const token = `myl_${randomBytes(32).toString("base64url")}`;
    const hash = hashToken(token);
    await tx.run(
      "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES (?, ?, ?, ?)",
      [hash, session.userId, session.deviceId, now],
    );
    // Known from its first request on, so that it is rate-limited by its own bucket (app.ts).
    // A revocation later in this batch runs its own after-commit step after this one.
    tx.afterCommit(() => this.remember(hash, { userId: session.userId, deviceId: session.deviceId }));
    return token;
  }

  /**
   * Revokes every token of a device inside the caller's write job (logout, logout/all, device
   * deletion). The cache forgets the device before the delete and again once it has committed:
   * a lookup that read the row in between may have cached it.
   */
  async revokeDevice(tx: WriteTransaction, userId: string, deviceId: string): Promise<void> {
    this.forget(userId, deviceId);
    await tx.run("DELETE FROM access_tokens WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
    tx.afterCommit(() => this.forget(userId, deviceId));
  }

  private forget(userId: string, deviceId: string): void {
    this.revocations++;
    for (const [hash, session] of this.cache) {
      if (session.userId === userId && session.deviceId === deviceId) this.cache.delete(hash);
    }
  }

  /** The session of a token if the cache holds it (no database read; for the rate limiter). */
  cached(token: string | undefined): Session | undefined {
    return token === undefined || token === "" ? undefined : this.cache.get(hashToken(token));
  }

  /** The session of a token, or M_MISSING_TOKEN / M_UNKNOWN_TOKEN. */
  async authenticate(token: string | undefined): Promise<Session> {
    if (token === undefined || token === "") throw missingToken();
    const hash = hashToken(token);
    const cached = this.cache.get(hash);
    if (cached) return cached;
    const revocationsBefore = this.revocations;
    const row = await this.db.get<{ user_id: string; device_id: string }>(
      "SELECT user_id, device_id FROM access_tokens WHERE token_hash = ?",
      [hash],
    );
    if (row === undefined) throw unknownToken();
    const session = { userId: row.user_id, deviceId: row.device_id };
    if (this.revocations === revocationsBefore) this.remember(hash, session);
    return session;
  }

  private remember(hash: string, session: Session): void {
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(hash, session);
  }
}
