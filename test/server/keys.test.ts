// End-to-end keys over HTTP: uploads with MLS key packages checked (section 9, D17, D18-D20),
// /keys/list, one-time claims under concurrency with the fallback key, queries with
// cross-signing keys and signatures, and device list changes.
import {
  encode,
  keyPackageEncoder,
  makeKeyPackageRef,
  getCiphersuiteImpl,
  mlsMessageEncoder,
  protocolVersions,
  wireformats,
} from "ts-mls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64Url } from "../../src/protocol/base64.js";
import { MANDATORY_CIPHERSUITE, STABLE_NAMES } from "../../src/protocol/names.js";
import { request, type Reply } from "../helpers/http.js";
import {
  MLS_ALGORITHM,
  deviceKeys,
  newKeyPackage,
  newMlsDevice,
  newSigningKey,
  signed,
  type MlsDevice,
  type SigningKey,
} from "../helpers/keyPackages.js";
import { applicationBytes, newGroup } from "../helpers/mls.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";
import { expectMatchesSpec } from "../helpers/specSchema.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const STABLE_ALGORITHM = STABLE_NAMES.prefix + MANDATORY_CIPHERSUITE;
const PASSWORD = "correct horse battery";

describe.each(BACKENDS)("end-to-end keys on %s", (backend) => {
  let server: ServerProcess;
  let users = 0;
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Reply> =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });

  /** A new user with an MLS device whose keys are uploaded. */
  async function newUser(): Promise<{ user: TestUser; device: MlsDevice }> {
    const user = await registerUser(server.url, `keys${++users}`, PASSWORD);
    const device = newMlsDevice(user.userId, user.deviceId);
    const reply = await call(user, "POST", "/keys/upload", { device_keys: deviceKeys(device) });
    expect(reply.status).toBe(200);
    return { user, device };
  }

  const listed = async (user: TestUser) =>
    (await call(user, "GET", "/keys/list")).body as { one_time_keys: string[]; fallback_keys: string[] };
  const syncToken = async (user: TestUser) =>
    (await call(user, "GET", "/sync?timeout=0")).body.next_batch as string;
  const claim = (claimer: TestUser, owner: TestUser, algorithm = MLS_ALGORITHM) =>
    call(claimer, "POST", "/keys/claim", {
      one_time_keys: { [owner.userId]: { [owner.deviceId]: algorithm } },
    });
  const claimedIds = (reply: Reply, owner: TestUser) =>
    Object.keys(
      ((reply.body.one_time_keys as Record<string, Record<string, object>>)[owner.userId] ?? {})[
        owner.deviceId
      ] ?? {},
    );

  beforeAll(async () => {
    server = await startServerProcess({ backend });
  });
  afterAll(async () => {
    await server.destroy();
  });

  describe("POST /keys/upload", () => {
    it("stores key packages as one-time keys and answers the count per algorithm", async () => {
      const { user, device } = await newUser();
      const packages = await Promise.all([newKeyPackage(device), newKeyPackage(device)]);
      const reply = await call(user, "POST", "/keys/upload", {
        one_time_keys: Object.fromEntries(packages.map((p) => [p.keyId, p.value])),
      });
      expect(reply.body).toEqual({ one_time_key_counts: { [MLS_ALGORITHM]: 2 } });
      await expectMatchesSpec("keys.yaml", "/keys/upload", "post", 200, reply.body);
    });

    it("D5 accepts a key package in padded standard base64 and hands it out unpadded URL-safe", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const kp = await newKeyPackage(device);
      const padded = Buffer.from(kp.bytes).toString("base64");
      const reply = await call(user, "POST", "/keys/upload", { one_time_keys: { [kp.keyId]: padded } });
      const claimed = await claim(bob, user);
      expect(reply.body).toEqual({ one_time_key_counts: { [MLS_ALGORITHM]: 1 } });
      expect(claimed.body.one_time_keys).toEqual({
        [user.userId]: { [user.deviceId]: { [kp.keyId]: kp.value } },
      });
    });

    it("stores Olm keys as the objects given", async () => {
      const { user } = await newUser();
      const key = { key: "zKbLg+NrIjpnagy+pIY6uPL4ZwEG2v+8F9lmgsnlZzs", signatures: {} };
      await call(user, "POST", "/keys/upload", { one_time_keys: { "signed_curve25519:AAAAHg": key } });
      const { user: bob } = await newUser();
      const reply = await claim(bob, user, "signed_curve25519");
      expect((reply.body.one_time_keys as Record<string, unknown>)[user.userId]).toEqual({
        [user.deviceId]: { "signed_curve25519:AAAAHg": key },
      });
    });

    it("refuses device keys naming another device with M_INVALID_PARAM", async () => {
      const { user } = await newUser();
      const other = newMlsDevice(user.userId, "OTHERDEVICE");
      const reply = await call(user, "POST", "/keys/upload", { device_keys: deviceKeys(other) });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });

    it("D19 refuses device keys whose MLS signature does not verify", async () => {
      const { user, device } = await newUser();
      const keys = deviceKeys(device);
      const reply = await call(user, "POST", "/keys/upload", { device_keys: { ...keys, algorithms: [] } });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
    });

    it("D18 refuses device keys whose credential names another device", async () => {
      const { user } = await newUser();
      const liar = newMlsDevice(user.userId, user.deviceId, { userId: user.userId, deviceId: "ELSEWHERE" });
      const reply = await call(user, "POST", "/keys/upload", { device_keys: deviceKeys(liar) });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });

    describe("refuses a bad key package and stores nothing of that upload", () => {
      const NOTHING = { one_time_keys: [], fallback_keys: [] };

      /** Uploads the bad key in `field` with a good key package in the other field. */
      async function refused(
        bad: (device: MlsDevice) => Promise<[string, unknown]>,
        field = "one_time_keys",
      ) {
        const { user, device } = await newUser();
        const good = await newKeyPackage(device);
        const [badId, badValue] = await bad(device);
        const goodField = field === "one_time_keys" ? "fallback_keys" : "one_time_keys";
        const reply = await call(user, "POST", "/keys/upload", {
          [field]: { [badId]: badValue },
          [goodField]: { [good.keyId]: good.value },
        });
        return { reply, badId, list: await listed(user) };
      }

      it("a truncated MLSMessage", async () => {
        const { reply, badId, list } = await refused(async (device) => {
          const kp = await newKeyPackage(device);
          return [kp.keyId, encodeBase64Url(kp.bytes.subarray(0, kp.bytes.length - 1))];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
        expect(reply.body.error).toContain(badId);
      });

      it("an MLSMessage followed by trailing bytes", async () => {
        const { reply, list } = await refused(async (device) => {
          const kp = await newKeyPackage(device);
          return [kp.keyId, encodeBase64Url(new Uint8Array([...kp.bytes, 0]))];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
      });

      it("D20 an MLSMessage of another wire format", async () => {
        const { reply, list } = await refused(async () => {
          const message = await applicationBytes(await newGroup("!room:example.org"));
          return [`${MLS_ALGORITHM}:${encodeBase64Url(new Uint8Array(32))}`, encodeBase64Url(message)];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
        expect(reply.body.error).toContain("wire format");
      });

      it("D20 a key ID that is not the KeyPackageRef", async () => {
        const { reply, list } = await refused(async (device) => {
          const [kp, other] = await Promise.all([newKeyPackage(device), newKeyPackage(device)]);
          return [other.keyId, kp.value];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
        expect(reply.body.error).toContain("KeyPackageRef");
      });

      it("a key package of another ciphersuite than its algorithm names", async () => {
        const { reply, list } = await refused(async (device) => {
          const otherSuite = "de.bwi.mls.v1.MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519";
          const kp = await newKeyPackage(device, { algorithm: otherSuite });
          return [kp.keyId, kp.value];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
        expect(reply.body.error).toContain("ciphersuite");
      });

      it("section 9 a key package whose credential names another device", async () => {
        const { reply, list } = await refused(async (device) => {
          const liar = newMlsDevice(device.userId, device.deviceId, {
            userId: device.userId,
            deviceId: "ELSEWHERE",
          });
          const kp = await newKeyPackage(liar);
          return [kp.keyId, kp.value];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
      });

      it("a key package whose signature does not verify", async () => {
        const { reply, list } = await refused(async (device) => {
          const kp = await newKeyPackage(device);
          const signature = new Uint8Array(kp.keyPackage.signature);
          signature[0] = (signature[0] as number) ^ 1;
          const forged = { ...kp.keyPackage, signature };
          const impl = await getCiphersuiteImpl(MANDATORY_CIPHERSUITE);
          const ref = await makeKeyPackageRef(forged, impl.hash);
          const bytes = encode(mlsMessageEncoder, {
            wireformat: wireformats.mls_key_package,
            version: protocolVersions.mls10,
            keyPackage: forged,
          });
          expect(encode(keyPackageEncoder, forged).length).toBe(bytes.length - 4);
          return [`${MLS_ALGORITHM}:${encodeBase64Url(ref)}`, encodeBase64Url(bytes)];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
        expect(reply.body.error).toContain("signature");
      });

      it("a key package given as an object", async () => {
        const { reply, list } = await refused(async (device) => {
          const kp = await newKeyPackage(device);
          return [kp.keyId, { key: kp.value, signatures: {} }];
        });
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
      });

      it("a bad fallback key package", async () => {
        const { reply, list } = await refused(async (device) => {
          const kp = await newKeyPackage(device);
          return [kp.keyId, encodeBase64Url(kp.bytes.subarray(1))];
        }, "fallback_keys");
        expect([reply.status, reply.body.errcode, list]).toEqual([400, "M_BAD_JSON", NOTHING]);
      });
    });
  });

  describe("GET /keys/list (section 9)", () => {
    it("lists the device's own one-time and fallback key IDs", async () => {
      const { user, device } = await newUser();
      const [a, b, fallback] = await Promise.all([
        newKeyPackage(device),
        newKeyPackage(device),
        newKeyPackage(device, { lastResort: true }),
      ]);
      await call(user, "POST", "/keys/upload", {
        one_time_keys: { [a.keyId]: a.value, [b.keyId]: b.value },
        fallback_keys: { [fallback.keyId]: fallback.value },
      });
      const list = await listed(user);
      expect([list.one_time_keys.sort(), list.fallback_keys]).toEqual([
        [a.keyId, b.keyId].sort(),
        [fallback.keyId],
      ]);
    });

    it("lists nothing of another device of the same user", async () => {
      const { user, device } = await newUser();
      const kp = await newKeyPackage(device);
      await call(user, "POST", "/keys/upload", { one_time_keys: { [kp.keyId]: kp.value } });
      const login = await request(server.url, "POST", "/_matrix/client/v3/login", {
        body: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: user.userId },
          password: PASSWORD,
        },
      });
      const second = { ...user, token: login.body.access_token as string };
      expect(await listed(second)).toEqual({ one_time_keys: [], fallback_keys: [] });
    });
  });

  describe("POST /keys/claim", () => {
    it("hands out each key package once, oldest upload first", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const first = await newKeyPackage(device);
      const second = await newKeyPackage(device);
      await call(user, "POST", "/keys/upload", { one_time_keys: { [first.keyId]: first.value } });
      await call(user, "POST", "/keys/upload", { one_time_keys: { [second.keyId]: second.value } });
      const claims = [await claim(bob, user), await claim(bob, user), await claim(bob, user)];
      expect(claims.map((reply) => claimedIds(reply, user))).toEqual([[first.keyId], [second.keyId], []]);
    });

    it("answers with the key package as uploaded", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const kp = await newKeyPackage(device);
      await call(user, "POST", "/keys/upload", { one_time_keys: { [kp.keyId]: kp.value } });
      const reply = await claim(bob, user);
      expect(reply.body).toEqual({
        failures: {},
        one_time_keys: { [user.userId]: { [user.deviceId]: { [kp.keyId]: kp.value } } },
      });
      await expectMatchesSpec("keys.yaml", "/keys/claim", "post", 200, reply.body);
    });

    it("hands 5 keys to 20 concurrent claims once each, then the fallback key", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const packages = await Promise.all(Array.from({ length: 5 }, () => newKeyPackage(device)));
      const fallback = await newKeyPackage(device, { lastResort: true });
      await call(user, "POST", "/keys/upload", {
        one_time_keys: Object.fromEntries(packages.map((p) => [p.keyId, p.value])),
        fallback_keys: { [fallback.keyId]: fallback.value },
      });
      const claims = await Promise.all(Array.from({ length: 20 }, () => claim(bob, user)));
      const ids = claims.flatMap((reply) => claimedIds(reply, user));
      const oneTime = ids.filter((id) => id !== fallback.keyId);
      expect([ids.length, new Set(oneTime).size, oneTime.length]).toEqual([20, 5, 5]);
      expect(new Set(oneTime)).toEqual(new Set(packages.map((p) => p.keyId)));
      expect((await listed(user)).one_time_keys).toEqual([]);
    });

    it("D17 answers a claim under the stable prefix with the unstable-prefixed key package", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const kp = await newKeyPackage(device);
      await call(user, "POST", "/keys/upload", { one_time_keys: { [kp.keyId]: kp.value } });
      const reply = await claim(bob, user, STABLE_ALGORITHM);
      expect(claimedIds(reply, user)).toEqual([kp.keyId]);
    });

    it("hands out the fallback key again until it is replaced", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const [old, replacement] = await Promise.all([
        newKeyPackage(device, { lastResort: true }),
        newKeyPackage(device, { lastResort: true }),
      ]);
      await call(user, "POST", "/keys/upload", { fallback_keys: { [old.keyId]: old.value } });
      const before = [await claim(bob, user), await claim(bob, user)].map((r) => claimedIds(r, user));
      await call(user, "POST", "/keys/upload", { fallback_keys: { [replacement.keyId]: replacement.value } });
      const after = claimedIds(await claim(bob, user), user);
      expect([before, after]).toEqual([[[old.keyId], [old.keyId]], [replacement.keyId]]);
    });

    it("marks a handed-out fallback key used in /sync, and reports one-time key counts there", async () => {
      const { user, device } = await newUser();
      const { user: bob } = await newUser();
      const [oneTime, fallback] = await Promise.all([
        newKeyPackage(device),
        newKeyPackage(device, { lastResort: true }),
      ]);
      await call(user, "POST", "/keys/upload", {
        one_time_keys: { [oneTime.keyId]: oneTime.value },
        fallback_keys: { [fallback.keyId]: fallback.value },
      });
      const counts = async () => {
        const { body } = await call(user, "GET", "/sync?timeout=0");
        return [body.device_one_time_keys_count, body.device_unused_fallback_key_types];
      };
      const before = await counts();
      await claim(bob, user);
      const afterOneTime = await counts();
      await claim(bob, user);
      expect([before, afterOneTime, await counts()]).toEqual([
        [{ [MLS_ALGORITHM]: 1 }, [MLS_ALGORITHM]],
        [{}, [MLS_ALGORITHM]],
        [{}, []],
      ]);
    });

    // Users of other servers: test/server/federation/remoteKeys.test.ts.
    it("leaves out devices without keys", async () => {
      const { user } = await newUser();
      const reply = await call(user, "POST", "/keys/claim", {
        one_time_keys: { [user.userId]: { NOSUCHDEVICE: MLS_ALGORITHM } },
      });
      expect(reply.body).toEqual({ failures: {}, one_time_keys: {} });
    });

    it("refuses a body without one_time_keys with M_MISSING_PARAM", async () => {
      const { user } = await newUser();
      const reply = await call(user, "POST", "/keys/claim", {});
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    });
  });

  describe("POST /keys/query and cross-signing", () => {
    function crossSigningKey(userId: string, usage: string, key: SigningKey, master?: SigningKey) {
      const value = {
        user_id: userId,
        usage: [usage],
        keys: { [`ed25519:${key.publicKey}`]: key.publicKey },
      };
      return master ? signed(value, userId, `ed25519:${master.publicKey}`, master) : value;
    }

    /** A user with master, self-signing and user-signing keys uploaded. */
    async function crossSigned() {
      const { user, device } = await newUser();
      const master = newSigningKey();
      const selfSigning = newSigningKey();
      const userSigning = newSigningKey();
      const body = {
        master_key: crossSigningKey(user.userId, "master", master),
        self_signing_key: crossSigningKey(user.userId, "self_signing", selfSigning, master),
        user_signing_key: crossSigningKey(user.userId, "user_signing", userSigning, master),
      };
      const reply = await call(user, "POST", "/keys/device_signing/upload", body);
      await expectMatchesSpec("cross_signing.yaml", "/keys/device_signing/upload", "post", 200, reply.body);
      return { user, device, master, selfSigning, userSigning, body };
    }

    it("returns device keys as uploaded, with unsigned, and leaves out unknown users", async () => {
      const { user, device } = await newUser();
      const reply = await call(user, "POST", "/keys/query", {
        device_keys: { [user.userId]: [], [`@nobody:${server.serverName}`]: [] },
      });
      expect(reply.body).toEqual({
        failures: {},
        device_keys: { [user.userId]: { [user.deviceId]: { ...deviceKeys(device), unsigned: {} } } },
        master_keys: {},
        self_signing_keys: {},
        user_signing_keys: {},
      });
      await expectMatchesSpec("keys.yaml", "/keys/query", "post", 200, reply.body);
    });

    it("returns only the devices asked for", async () => {
      const { user } = await newUser();
      const reply = await call(user, "POST", "/keys/query", { device_keys: { [user.userId]: ["OTHER"] } });
      expect(reply.body.device_keys).toEqual({ [user.userId]: {} });
    });

    it("returns master and self-signing keys to others, the user-signing key to its owner only", async () => {
      const { user, body } = await crossSigned();
      const { user: bob } = await newUser();
      const query = (asker: TestUser) =>
        call(asker, "POST", "/keys/query", { device_keys: { [user.userId]: [] } });
      const [own, other] = [await query(user), await query(bob)];
      expect([own.body.master_keys, own.body.self_signing_keys, own.body.user_signing_keys]).toEqual([
        { [user.userId]: body.master_key },
        { [user.userId]: body.self_signing_key },
        { [user.userId]: body.user_signing_key },
      ]);
      expect([other.body.master_keys, other.body.user_signing_keys]).toEqual([
        { [user.userId]: body.master_key },
        {},
      ]);
      await expectMatchesSpec("keys.yaml", "/keys/query", "post", 200, own.body);
    });

    it("refuses a self-signing key not signed by the master key with M_INVALID_SIGNATURE", async () => {
      const { user } = await newUser();
      const master = newSigningKey();
      const reply = await call(user, "POST", "/keys/device_signing/upload", {
        master_key: crossSigningKey(user.userId, "master", master),
        self_signing_key: crossSigningKey(user.userId, "self_signing", newSigningKey(), newSigningKey()),
      });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_SIGNATURE"]);
    });

    it("accepts the same keys again without authentication", async () => {
      const { user, body } = await crossSigned();
      const reply = await call(user, "POST", "/keys/device_signing/upload", body);
      expect([reply.status, reply.body]).toEqual([200, {}]);
    });

    it("asks for m.login.password before replacing a master key", async () => {
      const { user } = await crossSigned();
      const reply = await call(user, "POST", "/keys/device_signing/upload", {
        master_key: crossSigningKey(user.userId, "master", newSigningKey()),
      });
      expect([reply.status, reply.body.flows]).toEqual([401, [{ stages: ["m.login.password"] }]]);
    });

    it("replaces the master key with the account's password", async () => {
      const { user } = await crossSigned();
      const masterKey = crossSigningKey(user.userId, "master", newSigningKey());
      const first = await call(user, "POST", "/keys/device_signing/upload", { master_key: masterKey });
      const auth = {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: user.userId },
        password: PASSWORD,
        session: first.body.session,
      };
      const reply = await call(user, "POST", "/keys/device_signing/upload", { master_key: masterKey, auth });
      const query = await call(user, "POST", "/keys/query", { device_keys: { [user.userId]: [] } });
      expect([reply.status, query.body.master_keys]).toEqual([200, { [user.userId]: masterKey }]);
    });

    it("refuses a wrong password for replacing a master key", async () => {
      const { user } = await crossSigned();
      const masterKey = crossSigningKey(user.userId, "master", newSigningKey());
      const auth = {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: user.userId },
        password: "no",
      };
      const reply = await call(user, "POST", "/keys/device_signing/upload", { master_key: masterKey, auth });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_FORBIDDEN"]);
    });

    it("merges a self-signing signature on a device into the queried device keys", async () => {
      const { user, device, selfSigning } = await crossSigned();
      const keyId = `ed25519:${selfSigning.publicKey}`;
      const signedKeys = signed(deviceKeys(device), user.userId, keyId, selfSigning);
      const upload = await call(user, "POST", "/keys/signatures/upload", {
        [user.userId]: { [user.deviceId]: signedKeys },
      });
      const { user: bob } = await newUser();
      const query = await call(bob, "POST", "/keys/query", { device_keys: { [user.userId]: [] } });
      const queried = (query.body.device_keys as Record<string, Record<string, { signatures: object }>>)[
        user.userId
      ];
      expect([upload.body, queried?.[user.deviceId]?.signatures]).toEqual([
        { failures: {} },
        signedKeys.signatures,
      ]);
      await expectMatchesSpec("cross_signing.yaml", "/keys/signatures/upload", "post", 200, upload.body);
    });

    it("reports a signature that does not verify as M_INVALID_SIGNATURE and stores nothing", async () => {
      const { user, device, selfSigning } = await crossSigned();
      const keyId = `ed25519:${selfSigning.publicKey}`;
      const forged = signed(deviceKeys(device), user.userId, keyId, newSigningKey());
      const upload = await call(user, "POST", "/keys/signatures/upload", {
        [user.userId]: { [user.deviceId]: forged },
      });
      const query = await call(user, "POST", "/keys/query", { device_keys: { [user.userId]: [] } });
      const queried = (query.body.device_keys as Record<string, Record<string, unknown>>)[user.userId];
      expect(
        (upload.body.failures as Record<string, Record<string, { errcode: string }>>)[user.userId],
      ).toEqual({
        [user.deviceId]: expect.objectContaining({ errcode: "M_INVALID_SIGNATURE" }),
      });
      expect(queried?.[user.deviceId]).toEqual({ ...deviceKeys(device), unsigned: {} });
      await expectMatchesSpec("cross_signing.yaml", "/keys/signatures/upload", "post", 200, upload.body);
    });

    it("shows a user-signing signature on another user's master key to the signer only", async () => {
      const alice = await crossSigned();
      const bob = await crossSigned();
      const { user: carol } = await newUser();
      const keyId = `ed25519:${alice.userSigning.publicKey}`;
      const signedMaster = signed(bob.body.master_key, alice.user.userId, keyId, alice.userSigning);
      const upload = await call(alice.user, "POST", "/keys/signatures/upload", {
        [bob.user.userId]: { [bob.master.publicKey]: signedMaster },
      });
      const masterSeenBy = async (asker: TestUser) =>
        (
          (await call(asker, "POST", "/keys/query", { device_keys: { [bob.user.userId]: [] } })).body
            .master_keys as Record<string, unknown>
        )[bob.user.userId];
      expect(upload.body).toEqual({ failures: {} });
      expect([await masterSeenBy(alice.user), await masterSeenBy(carol)]).toEqual([
        signedMaster,
        bob.body.master_key,
      ]);
    });

    it("D19 accepts a device's MLS signature on its owner's master key", async () => {
      const { user, device, master, body } = await crossSigned();
      const keyId = `${deviceKeys(device).algorithms[0]?.slice(0, -MANDATORY_CIPHERSUITE.length)}basic:${user.deviceId}`;
      const signedMaster = signed(body.master_key, user.userId, keyId, device.signatureKey);
      const upload = await call(user, "POST", "/keys/signatures/upload", {
        [user.userId]: { [master.publicKey]: signedMaster },
      });
      expect(upload.body).toEqual({ failures: {} });
    });
  });

  describe("GET /keys/changes", () => {
    it("lists the user themselves after their device keys changed", async () => {
      const { user } = await newUser();
      const from = await syncToken(user);
      await call(user, "POST", "/keys/upload", {
        device_keys: deviceKeys(newMlsDevice(user.userId, user.deviceId)),
      });
      const to = await syncToken(user);
      const reply = await call(user, "GET", `/keys/changes?from=${from}&to=${to}`);
      expect(reply.body).toEqual({ changed: [user.userId], left: [] });
      await expectMatchesSpec("keys.yaml", "/keys/changes", "get", 200, reply.body);
    });

    it("lists a user sharing a joined room, not one who shares none", async () => {
      const { user: alice } = await newUser();
      const { user: bob } = await newUser();
      const { user: carol } = await newUser();
      const created = await call(alice, "POST", "/createRoom", {});
      const roomId = encodeURIComponent(created.body.room_id as string);
      const member = await MlsMember.create(created.body.room_id as string, alice.userId);
      const commit = await member.commit(fed([server.serverName]));
      await call(alice, "PUT", `/rooms/${roomId}/state/de.bwi.mls.commit/`, {
        algorithm: MLS_ALGORITHM,
        ciphertext: commit.ciphertext,
      });
      await call(alice, "POST", `/rooms/${roomId}/invite`, { user_id: bob.userId });
      expect((await call(bob, "POST", `/rooms/${roomId}/join`, {})).status).toBe(200);
      const from = await syncToken(alice);
      for (const user of [bob, carol]) {
        await call(user, "POST", "/keys/upload", {
          device_keys: deviceKeys(newMlsDevice(user.userId, user.deviceId)),
        });
      }
      const to = await syncToken(alice);
      const reply = await call(alice, "GET", `/keys/changes?from=${from}&to=${to}`);
      const synced = await call(alice, "GET", `/sync?timeout=0&since=${from}`);
      expect(reply.body).toEqual({ changed: [bob.userId], left: [] });
      expect(synced.body.device_lists).toEqual({ changed: [bob.userId], left: [] });
    });

    it("lists no change for an identical upload of device keys", async () => {
      const { user, device } = await newUser();
      const from = await syncToken(user);
      await call(user, "POST", "/keys/upload", { device_keys: deviceKeys(device) });
      const to = await syncToken(user);
      expect((await call(user, "GET", `/keys/changes?from=${from}&to=${to}`)).body.changed).toEqual([]);
    });

    it("lists the user after their cross-signing keys changed", async () => {
      const { user } = await newUser();
      const from = await syncToken(user);
      const master = newSigningKey();
      await call(user, "POST", "/keys/device_signing/upload", {
        master_key: {
          user_id: user.userId,
          usage: ["master"],
          keys: { [`ed25519:${master.publicKey}`]: master.publicKey },
        },
      });
      const to = await syncToken(user);
      expect((await call(user, "GET", `/keys/changes?from=${from}&to=${to}`)).body.changed).toEqual([
        user.userId,
      ]);
    });

    it("refuses a token that is not a decimal integer with M_INVALID_PARAM", async () => {
      const { user } = await newUser();
      const reply = await call(user, "GET", "/keys/changes?from=s72594_4483&to=5");
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });
  });
});
