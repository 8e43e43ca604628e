// /keys/query and /keys/claim of local clients (client-server spec, "End-to-end encryption"):
// local users are answered here, users of other servers by their servers, asked in parallel
// through POST /user/keys/query and /user/keys/claim with the client's timeout. A server that
// fails or times out is listed in `failures`. Answers are checked before they are passed on:
// device keys must name the asked user and device and pass the upload checks (D18, D19),
// cross-signing keys must belong to the user (the self-signing key signed by the master key), and
// a claimed key must be of the asked algorithm (D17), an MLS one a valid D20 key package of that
// device. Keys of other servers' users are not cached: a server does not know which remote users
// share a room with its own (section 7), so it could not tell whether it will hear of their
// changes; every query is forwarded. Other servers are asked through ctx.keyFederation
// (keyFederation.ts), which reports a refusal as KeyServerError.
import { encodeBase64Url } from "../../protocol/base64.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import type { ServerContext } from "../context.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { keyedRecord } from "../keyedRecord.js";
import { checkCrossSigningKey, signedByMaster, type CrossSigningKey } from "./crossSigning.js";
import { checkDeviceKeys, splitKeyId } from "./deviceKeysCheck.js";
import { KeyError } from "./keyErrors.js";
import { KeyServerError } from "../keyFederation.js";
import { withSignatures } from "./keyJson.js";
import { MlsCheckError, checkKeyPackage, claimableAlgorithms, parseMlsAlgorithm } from "./keyPackages.js";
import { uploadedSignatures } from "./keyStore.js";
import { claimLocalKeys, queryLocalKeys, type ClaimedKeys, type QueryResult } from "./localKeys.js";

/** The client-server spec's default `timeout` of /keys/query and /keys/claim. */
export const DEFAULT_KEYS_TIMEOUT_MS = 10_000;
const MAX_KEYS_TIMEOUT_MS = 60_000;

/** Server name → why it gave no answer. */
export type KeyFailures = Record<string, { status: number; errcode: string; error: string }>;

/** The request's `timeout` (ms), defaulted and bounded. */
export function keysTimeout(value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) return DEFAULT_KEYS_TIMEOUT_MS;
  return Math.min(Math.floor(value), MAX_KEYS_TIMEOUT_MS);
}

/** The entries of `wanted` naming users of other servers, by server. */
function remoteByServer<T>(ctx: ServerContext, wanted: Record<string, T>): Map<string, Record<string, T>> {
  const servers = new Map<string, Record<string, T>>();
  for (const [userId, value] of Object.entries(wanted)) {
    const server = userIdServerName(userId);
    if (server === undefined || server === ctx.config.serverName) continue;
    let users = servers.get(server);
    if (users === undefined) {
      users = keyedRecord();
      servers.set(server, users);
    }
    users[userId] = value;
  }
  return servers;
}

/** Asks `server`, giving up after `timeoutMs` whatever the transport does. */
async function ask(
  ctx: ServerContext,
  server: string,
  request: "query" | "claim",
  body: JsonObject,
  timeoutMs: number,
): Promise<JsonObject> {
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new KeyServerError(0, "M_UNKNOWN", `${server}: M_UNKNOWN: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    const answer = await Promise.race([
      ctx.keyFederation.requestUserKeys(server, request, body, { timeoutMs, signal: abort.signal }),
      timeout,
    ]);
    if (!isJsonObject(answer))
      throw new KeyServerError(0, "M_BAD_JSON", `${server}: M_BAD_JSON: answer is not an object`);
    return answer;
  } finally {
    clearTimeout(timer);
  }
}

function failureOf(server: string, error: unknown): KeyFailures[string] {
  if (error instanceof KeyServerError) {
    return { status: error.status, errcode: error.errcode, error: error.message };
  }
  return { status: 0, errcode: "M_UNKNOWN", error: `${server}: ${(error as Error).message}` };
}

/** Asks every server in parallel; `use` takes each answer, a failure is recorded instead. */
async function askEach<T>(
  ctx: ServerContext,
  remote: Map<string, Record<string, T>>,
  request: (users: Record<string, T>) => { request: "query" | "claim"; body: JsonObject },
  timeoutMs: number,
  use: (server: string, users: Record<string, T>, answer: JsonObject) => Promise<void>,
): Promise<KeyFailures> {
  const failures: KeyFailures = keyedRecord();
  await Promise.all(
    [...remote].map(async ([server, users]) => {
      const { request: kind, body } = request(users);
      let answer: JsonObject;
      try {
        answer = await ask(ctx, server, kind, body, timeoutMs);
      } catch (error) {
        ctx.log.warn({ server, err: error }, "keys request to another server failed");
        failures[server] = failureOf(server, error);
        return;
      }
      await use(server, users, answer);
    }),
  );
  return failures;
}

function entry(map: unknown, key: string): unknown {
  return isJsonObject(map) && Object.hasOwn(map, key) ? map[key] : undefined;
}

/** The cross-signing key of `usage` in an answer, if it passes its checks; undefined otherwise. */
function checkedCrossSigningKey(
  ctx: ServerContext,
  server: string,
  userId: string,
  usage: "master" | "self_signing",
  value: unknown,
): CrossSigningKey | undefined {
  if (value === undefined) return undefined;
  try {
    return checkCrossSigningKey(userId, usage, value);
  } catch (error) {
    if (!(error instanceof KeyError)) throw error;
    ctx.log.warn({ server, userId, usage, reason: error.message }, "dropped a remote cross-signing key");
    return undefined;
  }
}

/**
 * Adds the checked parts of `server`'s /user/keys/query answer to `result`. A remote master key
 * carries the signatures the requester uploaded for it here (their user-signing key's: they
 * verified that user), as the requester's own server is where those are kept.
 */
async function takeQueryAnswer(
  ctx: ServerContext,
  requester: string,
  server: string,
  users: Record<string, readonly string[]>,
  answer: JsonObject,
  result: QueryResult,
): Promise<void> {
  for (const [userId, deviceIds] of Object.entries(users)) {
    const given = entry(answer.device_keys, userId);
    if (isJsonObject(given)) {
      const devices: Record<string, JsonObject> = keyedRecord();
      for (const [deviceId, value] of Object.entries(given)) {
        if (deviceIds.length > 0 && !deviceIds.includes(deviceId)) continue;
        try {
          const keys = checkDeviceKeys(ctx.crypto, userId, deviceId, value);
          const name = entry(entry(value, "unsigned"), "device_display_name");
          devices[deviceId] = {
            ...keys,
            unsigned: typeof name === "string" ? { device_display_name: name } : {},
          };
        } catch (error) {
          if (!(error instanceof KeyError)) throw error;
          ctx.log.warn({ server, userId, deviceId, reason: error.message }, "dropped remote device keys");
        }
      }
      result.device_keys[userId] = devices;
    }
    const master = checkedCrossSigningKey(ctx, server, userId, "master", entry(answer.master_keys, userId));
    if (master === undefined) continue;
    const mine = (await uploadedSignatures(ctx.db, userId, requester)).filter(
      (row) => row.signer_user_id === requester && row.target_key === master.publicKey,
    );
    result.master_keys[userId] = withSignatures(master.json, mine);
    const self = checkedCrossSigningKey(
      ctx,
      server,
      userId,
      "self_signing",
      entry(answer.self_signing_keys, userId),
    );
    if (self !== undefined && signedByMaster(ctx.crypto, userId, self, master)) {
      result.self_signing_keys[userId] = self.json;
    }
  }
}

/** POST /keys/query of a local client: local users answered here, others by their servers. */
export async function queryKeys(
  ctx: ServerContext,
  requester: string,
  wanted: Record<string, readonly string[]>,
  timeoutMs: number,
): Promise<QueryResult & { failures: KeyFailures }> {
  const result = await queryLocalKeys(ctx, requester, wanted);
  const failures = await askEach(
    ctx,
    remoteByServer(ctx, wanted),
    (users) => ({ request: "query", body: { device_keys: users } }),
    timeoutMs,
    async (server, users, answer) => takeQueryAnswer(ctx, requester, server, users, answer, result),
  );
  return { failures, ...result };
}

/** A claimed key of another server's device, as passed on; undefined when it fails a check. */
async function checkedClaimedKey(
  ctx: ServerContext,
  userId: string,
  deviceId: string,
  requested: string,
  fullId: string,
  value: unknown,
): Promise<unknown> {
  const [algorithm, keyId] = splitKeyId(fullId);
  if (!claimableAlgorithms(requested).includes(algorithm)) {
    throw new MlsCheckError(`key of algorithm ${algorithm}, not ${requested} (D17)`);
  }
  const mls = parseMlsAlgorithm(algorithm);
  if (mls === undefined) {
    if (typeof value !== "string" && !isJsonObject(value))
      throw new MlsCheckError("key is not a string or object");
    return value;
  }
  const bytes = await checkKeyPackage(mls, keyId, value, { userId, deviceId, now: ctx.clock.now() });
  return encodeBase64Url(bytes);
}

/** Adds the checked keys of `server`'s /user/keys/claim answer to `claimed`: one per device. */
async function takeClaimAnswer(
  ctx: ServerContext,
  server: string,
  users: Record<string, Record<string, string>>,
  answer: JsonObject,
  claimed: ClaimedKeys,
): Promise<void> {
  for (const [userId, devices] of Object.entries(users)) {
    for (const [deviceId, requested] of Object.entries(devices)) {
      const keys = entry(entry(answer.one_time_keys, userId), deviceId);
      if (!isJsonObject(keys)) continue;
      for (const [fullId, value] of Object.entries(keys)) {
        try {
          const key = await checkedClaimedKey(ctx, userId, deviceId, requested, fullId, value);
          claimed[userId] ??= keyedRecord();
          claimed[userId][deviceId] = { [fullId]: key };
          break;
        } catch (error) {
          if (!(error instanceof MlsCheckError || error instanceof KeyError)) throw error;
          ctx.log.warn(
            { server, userId, deviceId, keyId: fullId, reason: error.message },
            "dropped a remote key",
          );
        }
      }
    }
  }
}

/** POST /keys/claim of a local client: local keys claimed here, others from their servers. */
export async function claimKeys(
  ctx: ServerContext,
  wanted: Record<string, Record<string, string>>,
  timeoutMs: number,
): Promise<{ one_time_keys: ClaimedKeys; failures: KeyFailures }> {
  const claimed = await claimLocalKeys(ctx, wanted);
  const failures = await askEach(
    ctx,
    remoteByServer(ctx, wanted),
    (users) => ({ request: "claim", body: { one_time_keys: users } }),
    timeoutMs,
    (server, users, answer) => takeClaimAnswer(ctx, server, users, answer, claimed),
  );
  return { one_time_keys: claimed, failures };
}
