// Server keys and X-Matrix between real server processes pinned to each other: each publishes its
// self-signed key, fetches and checks the other's, accepts requests signed with it and refuses
// everything else with 401, keeps the key while its server is down, and publishes retired keys.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBase64Unpadded, encodeBase64 } from "../../../src/protocol/base64.js";
import { verifyJsonSignature } from "../../../src/protocol/signedJson.js";
import { nodeCrypto, nodeSigner } from "../../../src/platform/nodeCrypto.js";
import type { ServerKeysResponse } from "../../../src/server/federation/transport/serverKeys.js";
import { xMatrixAuthorization } from "../../../src/server/federation/transport/xMatrix.js";
import type { ServerSigningKey } from "../../../src/server/signingKey.js";
import { request } from "../../helpers/http.js";
import {
  BACKENDS,
  freePort,
  startServerProcess,
  type Backend,
  type ServerProcess,
} from "../../helpers/serverProcess.js";
import { expectMatchesSpec } from "../../helpers/specSchema.js";
import { databaseRows, pinsEnv, serverSigner, signedRequest, transaction } from "./federationPeer.js";

const crypto = nodeCrypto();
const DAY = 24 * 3_600_000;

async function startPinnedPair(backend: Backend = "sqlite"): Promise<[ServerProcess, ServerProcess]> {
  const ports = [await freePort(), await freePort()];
  const pins = pinsEnv(ports.map((port) => ({ serverName: `localhost:${port}`, port })));
  return Promise.all(
    ports.map((port) => startServerProcess({ backend, port, env: { MYELIN_FEDERATION_PINS: pins } })),
  ) as Promise<[ServerProcess, ServerProcess]>;
}

function send(
  to: ServerProcess,
  from: ServerProcess,
  txnId: string,
  extra: { authorization?: string | null } = {},
) {
  return signedRequest(to.url, "PUT", `/_matrix/federation/v1/send/${txnId}`, {
    origin: from.serverName,
    destination: to.serverName,
    signer: serverSigner(from.dataDir),
    body: transaction(from.serverName),
    ...extra,
  });
}

describe.each(BACKENDS)("server keys and X-Matrix between two pinned servers on %s", (backend) => {
  let one: ServerProcess;
  let two: ServerProcess;
  beforeAll(async () => {
    [one, two] = await startPinnedPair(backend);
  });

  const rows = <T>(server: ServerProcess, sql: string) => databaseRows<T>(backend, server.database, sql);
  const storedTxnIds = async (server: ServerProcess) =>
    (await rows<{ txn_id: string }>(server, "SELECT txn_id FROM federation_inbound_txns")).map(
      (row) => row.txn_id,
    );
  afterAll(async () => {
    await Promise.all([one?.destroy(), two?.destroy()]);
  });

  it("publishes its key at /_matrix/key/v2/server, self-signed and valid for a day", async () => {
    const reply = await request<ServerKeysResponse>(one.url, "GET", "/_matrix/key/v2/server");
    await expectMatchesSpec("server-server/keys_server.yaml", "/server", "get", 200, reply.body);
    const signer = serverSigner(one.dataDir);
    expect(reply.body.server_name).toBe(one.serverName);
    expect(reply.body.verify_keys).toEqual({ [signer.keyId]: { key: encodeBase64(signer.publicKey) } });
    expect(reply.body.valid_until_ts).toBeGreaterThan(Date.now() + DAY - 60_000);
    expect(verifyJsonSignature(reply.body, one.serverName, signer.keyId, signer.publicKey, crypto)).toBe(
      true,
    );
  });

  it("answers the deprecated /_matrix/key/v2/server/{keyId} with the same keys", async () => {
    const keyId = serverSigner(one.dataDir).keyId;
    const reply = await request<ServerKeysResponse>(one.url, "GET", `/_matrix/key/v2/server/${keyId}`);
    expect(Object.keys(reply.body.verify_keys)).toEqual([keyId]);
  });

  it("accepts a request signed by the other server, after fetching and checking its key", async () => {
    const reply = await send(one, two, "accepted-1");
    expect([reply.status, reply.body]).toEqual([200, { pdus: {} }]);
    await expectMatchesSpec("server-server/transactions.yaml", "/send/{txnId}", "put", 200, reply.body);
    const signer = serverSigner(two.dataDir);
    expect(await rows(one, "SELECT server, key_id, public_key FROM federation_server_keys")).toEqual([
      { server: two.serverName, key_id: signer.keyId, public_key: encodeBase64(signer.publicKey) },
    ]);
  });

  it("fetches keys the other way round too", async () => {
    const reply = await send(two, one, "accepted-2");
    expect(reply.status).toBe(200);
  });

  it("refuses a request without an Authorization header with 401 M_UNAUTHORIZED, storing nothing", async () => {
    const reply = await send(one, two, "no-header", { authorization: null });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(reply.body.error).toMatch(/Missing X-Matrix/);
    expect(await storedTxnIds(one)).not.toContain("no-header");
  });

  it("refuses a wrong signature with 401, storing nothing", async () => {
    const impostor = nodeSigner(serverSigner(two.dataDir).keyId, new Uint8Array(32).fill(7));
    const reply = await signedRequest(one.url, "PUT", "/_matrix/federation/v1/send/forged", {
      origin: two.serverName,
      destination: one.serverName,
      signer: impostor,
      body: transaction(two.serverName),
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(reply.body.error).toMatch(/Invalid X-Matrix signature/);
    expect(await storedTxnIds(one)).not.toContain("forged");
  });

  it("refuses a body other than the one signed with 401", async () => {
    const signer = serverSigner(two.dataDir);
    const path = "/_matrix/federation/v1/send/swapped";
    const signed = transaction(two.serverName);
    const authorization = xMatrixAuthorization(
      { method: "PUT", uri: path, origin: two.serverName, destination: one.serverName, content: signed },
      signer,
    );
    const reply = await signedRequest(one.url, "PUT", path, {
      origin: two.serverName,
      destination: one.serverName,
      signer,
      body: { ...signed, origin_server_ts: 1 },
      authorization,
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
  });

  it("refuses a key the origin does not publish with 401", async () => {
    const unknown = nodeSigner("ed25519:nosuchkey", new Uint8Array(32).fill(9));
    const reply = await signedRequest(one.url, "PUT", "/_matrix/federation/v1/send/unknown-key", {
      origin: two.serverName,
      destination: one.serverName,
      signer: unknown,
      body: transaction(two.serverName),
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(reply.body.error).toMatch(/Unknown or expired key ed25519:nosuchkey/);
    expect(await storedTxnIds(one)).not.toContain("unknown-key");
  });

  it("refuses a request addressed to another server with 401", async () => {
    const reply = await signedRequest(one.url, "PUT", "/_matrix/federation/v1/send/elsewhere", {
      origin: two.serverName,
      destination: "other.example.org",
      signer: serverSigner(two.dataDir),
      body: transaction(two.serverName),
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(reply.body.error).toMatch(/destination/);
    expect(await storedTxnIds(one)).not.toContain("elsewhere");
  });

  it("keeps a fetched key while its server is down, also across its own restart", async () => {
    await two.stop();
    expect((await send(one, two, "while-down-1")).status).toBe(200);
    await one.stop();
    await one.restart();
    expect((await send(one, two, "while-down-2")).status).toBe(200);
    await two.restart();
  });
});

describe("a changed signing key file", () => {
  let one: ServerProcess;
  let two: ServerProcess;
  beforeAll(async () => {
    [one, two] = await startPinnedPair();
  });
  afterAll(async () => {
    await Promise.all([one?.destroy(), two?.destroy()]);
  });

  let before: ServerSigningKey;

  it("publishes the retired key in old_verify_keys and is trusted with the new key", async () => {
    before = serverSigner(two.dataDir);
    expect((await send(one, two, "old-key")).status).toBe(200);
    const fetchedAt = Date.now();
    await two.stop();
    rmSync(join(two.dataDir, "signing.key"));
    writeFileSync(
      join(two.dataDir, "signing.key"),
      `ed25519 rotated ${encodeBase64(new Uint8Array(32).fill(3))}\n`,
    );
    await two.restart();

    const keys = await request<ServerKeysResponse>(two.url, "GET", "/_matrix/key/v2/server");
    expect(Object.keys(keys.body.verify_keys)).toEqual(["ed25519:rotated"]);
    const old = keys.body.old_verify_keys[before.keyId];
    expect(old?.key).toBe(encodeBase64(before.publicKey));
    expect(old?.expired_ts).toBeGreaterThanOrEqual(fetchedAt);
    expect(decodeBase64Unpadded(old?.key ?? "")).toEqual(before.publicKey);

    // A key ID the cache does not know is fetched again (at most every 5 s per server).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, fetchedAt + 5_100 - Date.now())));
    expect((await send(one, two, "new-key")).status).toBe(200);
  });

  it("refuses a request signed with the retired key: it expired before now", async () => {
    const reply = await signedRequest(one.url, "PUT", "/_matrix/federation/v1/send/retired", {
      origin: two.serverName,
      destination: one.serverName,
      signer: before,
      body: transaction(two.serverName),
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(reply.body.error).toMatch(/Unknown or expired key/);
  });
});
