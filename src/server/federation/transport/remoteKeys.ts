// Other servers' signing keys (RemoteKeys): fetched directly from `/_matrix/key/v2/server` of
// the server itself (no notary), checked (server_name, a signature by every verify key), kept in
// the database and in memory with their validity, fetched again when a key is unknown or no
// longer valid at the instant asked about. A key is valid at `atTs` when its valid_until_ts
// (for an old key: its expired_ts) is >= atTs, as the Matrix room versions 5+ rules say.
// Fetches are limited per server (REFETCH_INTERVAL_MS) and, for servers we never had a key of,
// all together: anyone can name a made-up origin, and each name would be a connection we open.
import type { FastifyBaseLogger } from "fastify";
import { decodeBase64Unpadded, encodeBase64 } from "../../../protocol/base64.js";
import type { ProtocolCrypto } from "../../../protocol/crypto.js";
import { verifyJsonSignature } from "../../../protocol/signedJson.js";
import type { Clock } from "../../clock.js";
import type { ServerSigningKey } from "../../signingKey.js";
import { RateLimiter } from "../../rateLimiter.js";
import type { Database } from "../../storage/database.js";
import type { RemoteKeys } from "../../federationTypes.js";
import { ownOldKeys } from "./serverKeys.js";
import { isJsonObject } from "../../json.js";

/** Servers must not trust a key for longer than 7 days after fetching it (spec, valid_until_ts). */
const MAX_VALIDITY_MS = 7 * 24 * 3_600_000;
/** Asking a server again for a key it did not have waits this long: unknown key IDs cannot force a fetch per request. */
export const REFETCH_INTERVAL_MS = 5_000;
const MAX_SERVERS_IN_MEMORY = 10_000;
const KEY_ID = /^ed25519:[A-Za-z0-9_]+$/;

interface KnownKey {
  readonly key: Uint8Array;
  readonly validUntil: number;
}

export class ServerKeysError extends Error {
  override readonly name = "ServerKeysError";
}

export interface RemoteKeysOptions {
  readonly serverName: string;
  readonly signingKey: ServerSigningKey;
  readonly db: Database;
  readonly crypto: ProtocolCrypto;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  /** Fetches from servers with no key stored, all servers together (a token bucket). */
  readonly newServerFetches: { readonly perSecond: number; readonly burst: number };
  /** GET /_matrix/key/v2/server of `server`: the parsed JSON answer; throws when unreachable. */
  readonly fetchServerKeys: (server: string) => Promise<unknown>;
}

export function createRemoteKeys(options: RemoteKeysOptions): RemoteKeys {
  const { db, clock } = options;
  const known = new Map<string, Map<string, KnownKey>>();
  const lastFetch = new Map<string, number>();
  const fetching = new Map<string, Promise<void>>();
  const newServers = new RateLimiter(
    options.newServerFetches.perSecond,
    options.newServerFetches.burst,
    clock,
  );

  const load = async (server: string): Promise<Map<string, KnownKey>> => {
    let keys = known.get(server);
    if (keys !== undefined) return keys;
    const rows = await db.all<{ key_id: string; public_key: string; valid_until_ts: number | string }>(
      "SELECT key_id, public_key, valid_until_ts FROM federation_server_keys WHERE server = ?",
      [server],
    );
    keys = new Map(
      rows.map((row) => [
        row.key_id,
        { key: decodeBase64Unpadded(row.public_key), validUntil: Number(row.valid_until_ts) },
      ]),
    );
    if (known.size >= MAX_SERVERS_IN_MEMORY) known.clear();
    known.set(server, keys);
    return keys;
  };

  const refresh = (server: string): Promise<void> => {
    let running = fetching.get(server);
    if (running === undefined) {
      if (lastFetch.size >= MAX_SERVERS_IN_MEMORY) lastFetch.clear();
      lastFetch.set(server, clock.now());
      running = fetchAndStore(server).finally(() => fetching.delete(server));
      fetching.set(server, running);
    }
    return running;
  };

  const fetchAndStore = async (server: string): Promise<void> => {
    let keys: Map<string, KnownKey>;
    try {
      const now = clock.now();
      keys = checkServerKeys(server, await options.fetchServerKeys(server), now, options.crypto);
    } catch (error) {
      options.log.warn({ server, err: error }, "could not fetch the signing keys of a server");
      return;
    }
    const now = clock.now();
    await db.write(async (tx) => {
      for (const [keyId, { key, validUntil }] of keys) {
        await tx.run(
          `INSERT INTO federation_server_keys (server, key_id, public_key, valid_until_ts, fetched_ts) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (server, key_id) DO UPDATE SET public_key = excluded.public_key,
             valid_until_ts = excluded.valid_until_ts, fetched_ts = excluded.fetched_ts`,
          [server, keyId, encodeBase64(key), validUntil, now],
        );
      }
    });
    const cached = await load(server);
    for (const [keyId, entry] of keys) cached.set(keyId, entry);
  };

  const ownKey = async (keyId: string, atTs: number): Promise<Uint8Array | undefined> => {
    if (keyId === options.signingKey.keyId) return options.signingKey.publicKey;
    const old = (await ownOldKeys(db, options.signingKey)).find((entry) => entry.keyId === keyId);
    return old !== undefined && old.expiredTs >= atTs ? decodeBase64Unpadded(old.key) : undefined;
  };

  return {
    verifyKey: async (server, keyId, atTs) => {
      if (server === options.serverName) return ownKey(keyId, atTs);
      const valid = (entry: KnownKey | undefined) =>
        entry !== undefined && entry.validUntil >= atTs ? entry.key : undefined;
      const stored = await load(server);
      const cached = valid(stored.get(keyId));
      if (cached !== undefined) return cached;
      const last = lastFetch.get(server);
      const now = clock.now();
      if (fetching.has(server)) {
        await fetching.get(server);
      } else if (last === undefined || Math.abs(now - last) >= REFETCH_INTERVAL_MS) {
        if (stored.size === 0 && newServers.take("") > 0) {
          options.log.warn({ server }, "not fetching the keys of a new server: too many new servers at once");
          return undefined;
        }
        await refresh(server);
      }
      return valid((await load(server)).get(keyId));
    },
  };
}

/**
 * The keys a `/_matrix/key/v2/server` answer of `server` publishes, each with the instant until
 * which it may be used. Throws ServerKeysError unless the answer names `server`, has an integer
 * valid_until_ts, at least one well-formed ed25519 verify key, well-formed old keys, and a
 * valid self-signature by every ed25519 verify key.
 */
export function checkServerKeys(
  server: string,
  answer: unknown,
  now: number,
  crypto: ProtocolCrypto,
): Map<string, KnownKey> {
  if (!isJsonObject(answer)) throw new ServerKeysError("the answer is not a JSON object");
  if (answer.server_name !== server) {
    throw new ServerKeysError(`server_name is ${JSON.stringify(answer.server_name)}, not ${server}`);
  }
  const validUntilTs = answer.valid_until_ts;
  if (typeof validUntilTs !== "number" || !Number.isSafeInteger(validUntilTs)) {
    throw new ServerKeysError("valid_until_ts is not an integer");
  }
  const keys = new Map<string, KnownKey>();
  const verifyKeys = answer.verify_keys;
  if (!isJsonObject(verifyKeys)) throw new ServerKeysError("verify_keys is not an object");
  const validUntil = Math.min(validUntilTs, now + MAX_VALIDITY_MS);
  for (const [keyId, entry] of Object.entries(verifyKeys)) {
    if (!keyId.startsWith("ed25519:")) continue; // other algorithms are not ours to check
    const key = publicKey(keyId, entry);
    if (!verifyJsonSignature(answer, server, keyId, key, crypto)) {
      throw new ServerKeysError(`the answer is not signed by its key ${keyId}`);
    }
    keys.set(keyId, { key, validUntil });
  }
  if (keys.size === 0) throw new ServerKeysError("verify_keys holds no ed25519 key");
  const oldKeys = answer.old_verify_keys ?? {};
  if (!isJsonObject(oldKeys)) throw new ServerKeysError("old_verify_keys is not an object");
  for (const [keyId, entry] of Object.entries(oldKeys)) {
    if (!keyId.startsWith("ed25519:") || keys.has(keyId)) continue;
    const expiredTs = isJsonObject(entry) ? entry.expired_ts : undefined;
    if (typeof expiredTs !== "number" || !Number.isSafeInteger(expiredTs)) {
      throw new ServerKeysError(`old key ${keyId} has no integer expired_ts`);
    }
    keys.set(keyId, { key: publicKey(keyId, entry), validUntil: expiredTs });
  }
  return keys;
}

function publicKey(keyId: string, entry: unknown): Uint8Array {
  if (!KEY_ID.test(keyId)) throw new ServerKeysError(`${JSON.stringify(keyId)} is not a valid key ID`);
  const text = isJsonObject(entry) ? entry.key : undefined;
  let key: Uint8Array | undefined;
  try {
    key = typeof text === "string" ? decodeBase64Unpadded(text) : undefined;
  } catch {
    key = undefined;
  }
  if (key?.length !== 32) throw new ServerKeysError(`key ${keyId} is not 32 bytes of unpadded base64`);
  return key;
}
