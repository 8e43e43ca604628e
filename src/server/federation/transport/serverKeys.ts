// Our federation signing keys: `GET /_matrix/key/v2/server` (server-server API, "Publishing
// Keys"), self-signed, with the keys we used before the signing key file changed as
// old_verify_keys, so that other servers can still check what those keys signed.
import type { FastifyInstance } from "fastify";
import { encodeBase64 } from "../../../protocol/base64.js";
import { signJson } from "../../../protocol/signedJson.js";
import type { Clock } from "../../clock.js";
import type { ServerSigningKey } from "../../signingKey.js";
import type { Database, Queryable } from "../../storage/database.js";

/** How long others may rely on our answer: a day (the spec asks for at least an hour). */
export const KEY_VALIDITY_MS = 24 * 3_600_000;
/** The signed answer is remade after an hour (or when the clock jumps back). */
const RESPONSE_REUSE_MS = 3_600_000;

export interface OwnOldKey {
  readonly keyId: string;
  /** Unpadded base64. */
  readonly key: string;
  readonly expiredTs: number;
}

/**
 * Records the current signing key at start-up; any other key still marked current is retired
 * now (its expired_ts is this start's time). A key that comes back is current again.
 */
export async function recordOwnKey(db: Database, signingKey: ServerSigningKey, now: number): Promise<void> {
  await db.write(async (tx) => {
    await tx.run(
      `INSERT INTO federation_own_keys (key_id, public_key, expired_ts) VALUES (?, ?, NULL)
       ON CONFLICT (key_id) DO UPDATE SET public_key = excluded.public_key, expired_ts = NULL`,
      [signingKey.keyId, encodeBase64(signingKey.publicKey)],
    );
    await tx.run("UPDATE federation_own_keys SET expired_ts = ? WHERE expired_ts IS NULL AND key_id <> ?", [
      now,
      signingKey.keyId,
    ]);
  });
}

export async function ownOldKeys(q: Queryable, signingKey: ServerSigningKey): Promise<OwnOldKey[]> {
  const rows = await q.all<{ key_id: string; public_key: string; expired_ts: number | string }>(
    "SELECT key_id, public_key, expired_ts FROM federation_own_keys WHERE expired_ts IS NOT NULL AND key_id <> ? ORDER BY key_id",
    [signingKey.keyId],
  );
  return rows.map((row) => ({ keyId: row.key_id, key: row.public_key, expiredTs: Number(row.expired_ts) }));
}

export interface ServerKeysResponse {
  readonly server_name: string;
  readonly valid_until_ts: number;
  readonly verify_keys: Record<string, { key: string }>;
  readonly old_verify_keys: Record<string, { key: string; expired_ts: number }>;
  readonly signatures: Record<string, Record<string, string>>;
}

export function serverKeysResponse(
  serverName: string,
  signingKey: ServerSigningKey,
  oldKeys: readonly OwnOldKey[],
  now: number,
): ServerKeysResponse {
  const old_verify_keys = Object.fromEntries(
    oldKeys.map((old) => [old.keyId, { key: old.key, expired_ts: old.expiredTs }]),
  );
  return signJson(
    {
      server_name: serverName,
      valid_until_ts: now + KEY_VALIDITY_MS,
      verify_keys: { [signingKey.keyId]: { key: encodeBase64(signingKey.publicKey) } },
      old_verify_keys,
    },
    serverName,
    signingKey,
  );
}

export interface KeyRouteDeps {
  readonly serverName: string;
  readonly signingKey: ServerSigningKey;
  readonly db: Database;
  readonly clock: Clock;
}

/** GET /_matrix/key/v2/server and the deprecated /server/{keyId}, which answers the same. */
export function keyRoutes(app: FastifyInstance, deps: KeyRouteDeps): void {
  let made: { response: ServerKeysResponse; at: number } | undefined;
  const answer = async (): Promise<ServerKeysResponse> => {
    const now = deps.clock.now();
    if (made === undefined || now - made.at > RESPONSE_REUSE_MS || now < made.at) {
      const oldKeys = await ownOldKeys(deps.db, deps.signingKey);
      made = { response: serverKeysResponse(deps.serverName, deps.signingKey, oldKeys, now), at: now };
    }
    return made.response;
  };
  app.get("/_matrix/key/v2/server", answer);
  app.get("/_matrix/key/v2/server/:keyId", answer);
}
