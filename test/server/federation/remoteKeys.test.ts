// Keys across federation between real server processes pinned to each other: a local client's
// /keys/query and /keys/claim naming users of another server are answered by that server
// (/user/keys/query, /user/keys/claim; section 9, D17, D20), servers that fail are listed in
// `failures`, answers that fail the checks are not passed on, and GET /user/devices serves the
// device list with its stream_id.
import type { IncomingMessage, ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MANDATORY_CIPHERSUITE, STABLE_NAMES, UNSTABLE_NAMES } from "../../../src/protocol/names.js";
import { request, type Reply } from "../../helpers/http.js";
import {
  MLS_ALGORITHM,
  deviceKeys,
  newKeyPackage,
  newMlsDevice,
  newSigningKey,
  signed,
  type MlsDevice,
  type SigningKey,
} from "../../helpers/keyPackages.js";
import { BACKENDS, freePort, startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { expectMatchesSpec } from "../../helpers/specSchema.js";
import { registerUser, type TestUser } from "../../helpers/users.js";
import {
  json,
  pinsEnv,
  serverSigner,
  signedRequest,
  startHttpServer,
  type LocalHttpServer,
} from "./federationPeer.js";

const STABLE_ALGORITHM = STABLE_NAMES.prefix + MANDATORY_CIPHERSUITE;

function crossSigningKey(userId: string, usage: string, key: SigningKey, master?: SigningKey) {
  const value = { user_id: userId, usage: [usage], keys: { [`ed25519:${key.publicKey}`]: key.publicKey } };
  return master ? signed(value, userId, `ed25519:${master.publicKey}`, master) : value;
}

/** What the hostile server answers, set by each test before it asks. */
let hostileAnswer: (path: string, body: Record<string, unknown>) => unknown = () => ({});

describe.each(BACKENDS)("keys of users on other servers on %s", (backend) => {
  let one: ServerProcess;
  let two: ServerProcess;
  // A server that answers what each test wants: forged keys, or nothing at all.
  let hostile: LocalHttpServer;
  let hostileName: string;
  let users = 0;

  beforeAll(async () => {
    hostile = await startHttpServer((request: IncomingMessage, body: string, response: ServerResponse) => {
      const answer = hostileAnswer(request.url ?? "", JSON.parse(body || "{}") as Record<string, unknown>);
      if (answer !== undefined) json(response, 200, answer);
    });
    hostileName = `localhost:${hostile.port}`;
    const ports = [await freePort(), await freePort()];
    const pins = pinsEnv([
      ...ports.map((port) => ({ serverName: `localhost:${port}`, port })),
      { serverName: hostileName, port: hostile.port },
    ]);
    [one, two] = (await Promise.all(
      ports.map((port) => startServerProcess({ backend, port, env: { MYELIN_FEDERATION_PINS: pins } })),
    )) as [ServerProcess, ServerProcess];
  }, 60_000);
  afterAll(async () => {
    await Promise.all([one?.destroy(), two?.destroy(), hostile?.close()]);
  });

  const call = (server: ServerProcess, user: TestUser, method: string, path: string, body?: unknown) =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });

  /** A user on `server` whose MLS device has uploaded its keys. */
  async function newUser(server: ServerProcess): Promise<{ user: TestUser; device: MlsDevice }> {
    const user = await registerUser(server.url, `rk${++users}`);
    const device = newMlsDevice(user.userId, user.deviceId);
    expect(
      (await call(server, user, "POST", "/keys/upload", { device_keys: deviceKeys(device) })).status,
    ).toBe(200);
    return { user, device };
  }

  /** Master, self-signing and user-signing keys for `user`, uploaded on `server`. */
  async function crossSign(server: ServerProcess, user: TestUser) {
    const master = newSigningKey();
    const body = {
      master_key: crossSigningKey(user.userId, "master", master),
      self_signing_key: crossSigningKey(user.userId, "self_signing", newSigningKey(), master),
      user_signing_key: crossSigningKey(user.userId, "user_signing", newSigningKey(), master),
    };
    expect((await call(server, user, "POST", "/keys/device_signing/upload", body)).status).toBe(200);
    return body;
  }

  const claim = (claimer: TestUser, owner: TestUser, algorithm = MLS_ALGORITHM, deviceId = owner.deviceId) =>
    call(one, claimer, "POST", "/keys/claim", {
      one_time_keys: { [owner.userId]: { [deviceId]: algorithm } },
    });
  const claimed = (reply: Reply, userId: string, deviceId: string) =>
    (reply.body.one_time_keys as Record<string, Record<string, Record<string, string>>>)[userId]?.[deviceId];

  describe("/keys/query", () => {
    it("returns a remote user's device keys and master and self-signing keys, never the user-signing key", async () => {
      const { user: alice } = await newUser(one);
      const { user: bob, device } = await newUser(two);
      const keys = await crossSign(two, bob);
      const reply = await call(one, alice, "POST", "/keys/query", { device_keys: { [bob.userId]: [] } });
      // Other servers get no device display names (keys/localKeys.ts).
      expect(reply.body).toEqual({
        failures: {},
        device_keys: { [bob.userId]: { [bob.deviceId]: { ...deviceKeys(device), unsigned: {} } } },
        master_keys: { [bob.userId]: keys.master_key },
        self_signing_keys: { [bob.userId]: keys.self_signing_key },
        user_signing_keys: {},
      });
      await expectMatchesSpec("keys.yaml", "/keys/query", "post", 200, reply.body);
    });

    it("answers local and remote users in one query, only the devices asked for", async () => {
      const { user: alice, device: aliceDevice } = await newUser(one);
      const { user: bob } = await newUser(two);
      const reply = await call(one, alice, "POST", "/keys/query", {
        device_keys: { [alice.userId]: [], [bob.userId]: ["NOSUCHDEVICE"] },
      });
      expect(reply.body.device_keys).toEqual({
        [alice.userId]: { [alice.deviceId]: { ...deviceKeys(aliceDevice), unsigned: {} } },
        [bob.userId]: {},
      });
    });

    it("lists a server that cannot be reached in failures", async () => {
      const { user: alice } = await newUser(one);
      const unreachable = `localhost:${await freePort()}`;
      const reply = await call(one, alice, "POST", "/keys/query", {
        device_keys: { [`@nobody:${unreachable}`]: [] },
      });
      expect(reply.status).toBe(200);
      expect(Object.keys(reply.body.failures as object)).toEqual([unreachable]);
      expect(reply.body.device_keys).toEqual({});
    });

    it("lists a server that does not answer within the timeout in failures, without waiting longer", async () => {
      const { user: alice } = await newUser(one);
      hostileAnswer = () => undefined; // never answers
      const started = Date.now();
      const reply = await call(one, alice, "POST", "/keys/query", {
        device_keys: { [`@slow:${hostileName}`]: [] },
        timeout: 500,
      });
      expect(Object.keys(reply.body.failures as object)).toEqual([hostileName]);
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it("passes on only device keys that name the asked user and device with a valid D19 signature", async () => {
      const { user: alice } = await newUser(one);
      const mallory = `@mallory:${hostileName}`;
      const good = newMlsDevice(mallory, "GOOD");
      const tampered = { ...deviceKeys(newMlsDevice(mallory, "TAMPERED")), algorithms: ["changed"] };
      const master = newSigningKey();
      hostileAnswer = () => ({
        device_keys: {
          [mallory]: {
            GOOD: deviceKeys(good),
            WRONGUSER: deviceKeys(newMlsDevice(`@someone:${hostileName}`, "WRONGUSER")),
            OTHERNAME: deviceKeys(newMlsDevice(mallory, "GOOD")),
            TAMPERED: tampered,
          },
          // Not asked for: a user of the asking server must never be answered by another.
          [alice.userId]: { EVIL: deviceKeys(newMlsDevice(alice.userId, "EVIL")) },
        },
        master_keys: { [mallory]: crossSigningKey(mallory, "master", master) },
        // Not signed by the master key.
        self_signing_keys: { [mallory]: crossSigningKey(mallory, "self_signing", newSigningKey()) },
      });
      const reply = await call(one, alice, "POST", "/keys/query", { device_keys: { [mallory]: [] } });
      expect(reply.body.device_keys).toEqual({ [mallory]: { GOOD: { ...deviceKeys(good), unsigned: {} } } });
      expect(reply.body.master_keys).toEqual({ [mallory]: crossSigningKey(mallory, "master", master) });
      expect(reply.body.self_signing_keys).toEqual({});
    });
  });

  describe("/keys/claim", () => {
    it("claims a remote device's key package once: it is gone from its server, then the fallback", async () => {
      const { user: alice } = await newUser(one);
      const { user: bob, device } = await newUser(two);
      const [oneTime, fallback] = [
        await newKeyPackage(device),
        await newKeyPackage(device, { lastResort: true }),
      ];
      await call(two, bob, "POST", "/keys/upload", {
        one_time_keys: { [oneTime.keyId]: oneTime.value },
        fallback_keys: { [fallback.keyId]: fallback.value },
      });

      const first = await claim(alice, bob);
      expect(first.body).toEqual({
        failures: {},
        one_time_keys: { [bob.userId]: { [bob.deviceId]: { [oneTime.keyId]: oneTime.value } } },
      });
      await expectMatchesSpec("keys.yaml", "/keys/claim", "post", 200, first.body);
      expect((await call(two, bob, "GET", "/keys/list")).body.one_time_keys).toEqual([]);
      expect(claimed(await claim(alice, bob), bob.userId, bob.deviceId)).toEqual({
        [fallback.keyId]: fallback.value,
      });
    });

    it("D17: a claim naming the stable prefix gets the key package uploaded under the unstable one", async () => {
      const { user: alice } = await newUser(one);
      const { user: bob, device } = await newUser(two);
      const keyPackage = await newKeyPackage(device);
      await call(two, bob, "POST", "/keys/upload", {
        one_time_keys: { [keyPackage.keyId]: keyPackage.value },
      });
      expect(claimed(await claim(alice, bob, STABLE_ALGORITHM), bob.userId, bob.deviceId)).toEqual({
        [keyPackage.keyId]: keyPackage.value,
      });
    });

    it("lists a server that cannot be reached in failures", async () => {
      const { user: alice } = await newUser(one);
      const unreachable = `localhost:${await freePort()}`;
      const reply = await call(one, alice, "POST", "/keys/claim", {
        one_time_keys: { [`@nobody:${unreachable}`]: { DEVICE: MLS_ALGORITHM } },
      });
      expect(Object.keys(reply.body.failures as object)).toEqual([unreachable]);
      expect(reply.body.one_time_keys).toEqual({});
    });

    it("passes on only D20 key packages of the asked algorithm made by the asked device", async () => {
      const { user: alice } = await newUser(one);
      const mallory = `@mallory:${hostileName}`;
      const [valid, other] = [newMlsDevice(mallory, "VALID"), newMlsDevice(mallory, "OTHER")];
      const [validPackage, otherPackage] = [await newKeyPackage(valid), await newKeyPackage(other)];
      hostileAnswer = () => ({
        one_time_keys: {
          [mallory]: {
            VALID: { [validPackage.keyId]: validPackage.value },
            // Made by another device.
            STOLEN: { [otherPackage.keyId]: otherPackage.value },
            // Not the asked algorithm.
            WRONGALG: { "signed_curve25519:AAAAAQ": { key: "x", signatures: {} } },
            // Not a key package at all.
            GARBAGE: { [`${MLS_ALGORITHM}:AAAA`]: "bm90IGEga2V5IHBhY2thZ2U" },
          },
        },
      });
      const reply = await call(one, alice, "POST", "/keys/claim", {
        one_time_keys: {
          [mallory]: {
            VALID: MLS_ALGORITHM,
            STOLEN: MLS_ALGORITHM,
            WRONGALG: MLS_ALGORITHM,
            GARBAGE: MLS_ALGORITHM,
          },
        },
      });
      expect(reply.body).toEqual({
        failures: {},
        one_time_keys: { [mallory]: { VALID: { [validPackage.keyId]: validPackage.value } } },
      });
    });
  });

  describe("served to other servers", () => {
    const signedBy = <T>(
      from: ServerProcess,
      to: ServerProcess,
      method: "GET" | "POST",
      path: string,
      body?: unknown,
    ) =>
      signedRequest<T>(to.url, method, path, {
        origin: from.serverName,
        destination: to.serverName,
        signer: serverSigner(from.dataDir),
        body,
      });

    it("GET /user/devices gives the devices with keys, the stream_id, master and self-signing keys", async () => {
      const { user: bob, device } = await newUser(two);
      const keys = await crossSign(two, bob);
      const path = `/_matrix/federation/v1/user/devices/${encodeURIComponent(bob.userId)}`;
      const reply = await signedBy<Record<string, unknown>>(one, two, "GET", path);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({
        user_id: bob.userId,
        stream_id: expect.any(Number),
        devices: [{ device_id: bob.deviceId, keys: deviceKeys(device) }],
        master_key: keys.master_key,
        self_signing_key: keys.self_signing_key,
      });
      await expectMatchesSpec(
        "server-server/user_devices.yaml",
        "/user/devices/{userId}",
        "get",
        200,
        reply.body,
      );
    });

    it("GET /user/devices moves the stream_id on when a device's keys change", async () => {
      const { user: bob, device } = await newUser(two);
      const path = `/_matrix/federation/v1/user/devices/${encodeURIComponent(bob.userId)}`;
      const before = (await signedBy<{ stream_id: number }>(one, two, "GET", path)).body.stream_id;
      const changed = signed(
        { ...deviceKeys(device), algorithms: [MLS_ALGORITHM, STABLE_ALGORITHM] },
        bob.userId,
        `${UNSTABLE_NAMES.prefix}basic:${bob.deviceId}`,
        device.signatureKey,
      );
      await call(two, bob, "POST", "/keys/upload", { device_keys: changed });
      const after = (await signedBy<{ stream_id: number }>(one, two, "GET", path)).body.stream_id;
      expect(after).toBeGreaterThan(before);
    });

    it("GET /user/devices refuses users of other servers", async () => {
      const path = `/_matrix/federation/v1/user/devices/${encodeURIComponent(`@someone:${one.serverName}`)}`;
      expect((await signedBy(one, two, "GET", path)).status).toBe(400);
    });

    it("POST /user/keys/query answers only this server's users", async () => {
      const { user: alice } = await newUser(one);
      const { user: bob, device } = await newUser(two);
      const reply = await signedBy<Record<string, unknown>>(
        one,
        two,
        "POST",
        "/_matrix/federation/v1/user/keys/query",
        {
          device_keys: { [alice.userId]: [], [bob.userId]: [] },
        },
      );
      expect(reply.body).toEqual({
        device_keys: { [bob.userId]: { [bob.deviceId]: { ...deviceKeys(device), unsigned: {} } } },
        master_keys: {},
        self_signing_keys: {},
      });
      await expectMatchesSpec("server-server/user_keys.yaml", "/user/keys/query", "post", 200, reply.body);
    });

    it("refuses unsigned requests to the key endpoints", async () => {
      const reply = await request(two.url, "POST", "/_matrix/federation/v1/user/keys/claim", {
        body: { one_time_keys: {} },
      });
      expect(reply.status).toBe(401);
    });
  });
});
