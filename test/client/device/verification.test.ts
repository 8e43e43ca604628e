// Verification levels (section 3 `required_verification`) as a client computes them from a real
// homeserver: direct, cross (own keys or our user-signing key), tofu (first master key seen), none.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  crossSigningUploadBody,
  fingerprint,
  newCrossSigningKeys,
  signOwnDevice,
  uploadCrossSigningKeys,
  type CrossSigningKeys,
  type Ed25519Key,
} from "../../../src/client/device/crossSigning.js";
import { buildDeviceKeys } from "../../../src/client/device/deviceKeys.js";
import { saveCrossSigningKeys } from "../../../src/client/device/deviceStore.js";
import { DeviceTrustError } from "../../../src/client/device/errors.js";
import { approveOwnDevice, setUpDevice, type DeviceSetup } from "../../../src/client/device/setUpDevice.js";
import {
  deviceFingerprint,
  deviceVerificationLevels,
  meetsRequirement,
  verifyDevice,
  verifyUser,
  type VerificationLevel,
} from "../../../src/client/device/verification.js";
import { MatrixHttp } from "../../../src/client/http/matrixHttp.js";
import { generateSignatureKeyPair } from "../../../src/client/mls/engine.js";
import type { ClientStore } from "../../../src/client/store/clientStore.js";
import { openMemoryStore } from "../../../src/client/store/memoryStore.js";
import { decodeBase64Unpadded } from "../../../src/protocol/base64.js";
import { request } from "../../helpers/http.js";
import { newSigningKey, signed } from "../../helpers/keyPackages.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { loginUser, registerUser, type TestUser } from "../../helpers/users.js";

const PASSWORD = "correct horse battery";

interface Device {
  readonly user: TestUser;
  readonly http: MatrixHttp;
  readonly store: ClientStore;
  readonly setup: DeviceSetup;
}

describe("verification levels", () => {
  let server: ServerProcess;
  let users = 0;

  beforeAll(async () => {
    server = await startServerProcess({ backend: "sqlite" });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  async function setUp(user: TestUser): Promise<Device> {
    const http = new MatrixHttp({ baseUrl: server.url, accessToken: user.token });
    const store = await openMemoryStore();
    const setup = await setUpDevice({ http, store, userId: user.userId, deviceId: user.deviceId });
    return { user, http, store, setup };
  }
  const newUser = async () => setUp(await registerUser(server.url, `verify${++users}`, PASSWORD));
  const secondDevice = async (first: Device) =>
    setUp(await loginUser(server.url, first.user.userId, PASSWORD));

  /** The level `viewer` gives each device of `owner`. */
  async function levels(
    viewer: Device,
    owner: Device,
  ): Promise<Record<string, VerificationLevel | undefined>> {
    const map = await deviceVerificationLevels({
      http: viewer.http,
      store: viewer.store,
      ourUserId: viewer.user.userId,
      userId: owner.user.userId,
    });
    return Object.fromEntries([...map].map(([deviceId, { level }]) => [deviceId, level]));
  }
  const verify = (viewer: Device, owner: Device, expectedFingerprint?: string) =>
    verifyUser({
      http: viewer.http,
      store: viewer.store,
      ourUserId: viewer.user.userId,
      userId: owner.user.userId,
      ...(expectedFingerprint === undefined ? {} : { expectedFingerprint }),
    });
  const masterFingerprint = (d: Device) => fingerprint(d.setup.crossSigning?.master.publicKey as string);

  it("own devices signed by our ssk are cross", async () => {
    const first = await newUser();
    const second = await secondDevice(first);
    await approveOwnDevice(first.http, first.store, first.user.userId, second.user.deviceId);
    expect(await levels(first, first)).toEqual({
      [first.user.deviceId]: "cross",
      [second.user.deviceId]: "cross",
    });
  });

  it("an own device not yet approved is only a valid MLS device", async () => {
    const first = await newUser();
    const second = await secondDevice(first);
    expect((await levels(first, second))[second.user.deviceId]).toBe("none");
  });

  it("a user is 'cross' only after verifyUser", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const before = await levels(alice, bob);
    await verify(alice, bob, masterFingerprint(bob));
    expect([before, await levels(alice, bob)]).toEqual([
      { [bob.user.deviceId]: "tofu" },
      { [bob.user.deviceId]: "cross" },
    ]);
  });

  it("another user's verification of bob does not make bob cross for us", async () => {
    const alice = await newUser();
    const carol = await newUser();
    const bob = await newUser();
    await verify(carol, bob);
    expect(await levels(alice, bob)).toEqual({ [bob.user.deviceId]: "tofu" });
  });

  it("a device without our cross-signing keys sees others as tofu at best", async () => {
    const alice = await newUser();
    const aliceLaptop = await secondDevice(alice);
    const bob = await newUser();
    await verify(alice, bob);
    expect(await levels(aliceLaptop, bob)).toEqual({ [bob.user.deviceId]: "tofu" });
  });

  it("tofu pins the first master key and refuses a changed one", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const pinned = await levels(alice, bob);
    const replacement = newCrossSigningKeys();
    await uploadCrossSigningKeys(bob.http, bob.user.userId, replacement, PASSWORD);
    await signOwnDevice(bob.http, bob.user.userId, replacement, bob.setup.deviceKeys);
    expect([pinned, await levels(alice, bob)]).toEqual([
      { [bob.user.deviceId]: "tofu" },
      { [bob.user.deviceId]: "none" },
    ]);
  });

  it("verifyUser accepts a changed master key once compared", async () => {
    const alice = await newUser();
    const bob = await newUser();
    await levels(alice, bob);
    const replacement = newCrossSigningKeys();
    await uploadCrossSigningKeys(bob.http, bob.user.userId, replacement, PASSWORD);
    await signOwnDevice(bob.http, bob.user.userId, replacement, bob.setup.deviceKeys);
    await verify(alice, bob, fingerprint(replacement.master.publicKey));
    expect(await levels(alice, bob)).toEqual({ [bob.user.deviceId]: "cross" });
  });

  it("verifyUser refuses a wrong fingerprint", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const mallory = await newUser();
    const attempt = verify(alice, bob, masterFingerprint(mallory));
    await expect(attempt).rejects.toBeInstanceOf(DeviceTrustError);
    await expect(attempt).rejects.toMatchObject({ code: "fingerprint-mismatch" });
    expect(await levels(alice, bob)).toEqual({ [bob.user.deviceId]: "tofu" });
  });

  it("verifyUser returns the fingerprint and ignores spacing in the expected one", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const expected = masterFingerprint(bob);
    expect(await verify(alice, bob, expected.replaceAll(" ", ""))).toBe(expected);
  });

  it("verifyUser needs our cross-signing keys on this device", async () => {
    const alice = await newUser();
    const aliceLaptop = await secondDevice(alice);
    const bob = await newUser();
    await expect(verify(aliceLaptop, bob)).rejects.toMatchObject({ code: "no-cross-signing-keys" });
  });

  it("verifyUser refuses a user without a master key", async () => {
    const alice = await newUser();
    const bare = await registerUser(server.url, `verify${++users}`, PASSWORD);
    const attempt = verifyUser({
      http: alice.http,
      store: alice.store,
      ourUserId: alice.user.userId,
      userId: bare.userId,
    });
    await expect(attempt).rejects.toMatchObject({ code: "no-master-key" });
  });

  it("verifyUser refuses our own user", async () => {
    const alice = await newUser();
    await expect(verify(alice, alice)).rejects.toMatchObject({ code: "own-user" });
  });

  it("verifyDevice makes that one device direct", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const bobPhone = await secondDevice(bob);
    const shown = deviceFingerprint(bobPhone.setup.signatureKeyPair.publicKey);
    const returned = await verifyDevice({
      http: alice.http,
      store: alice.store,
      userId: bob.user.userId,
      deviceId: bobPhone.user.deviceId,
      expectedFingerprint: shown,
    });
    expect([returned, await levels(alice, bob)]).toEqual([
      shown,
      { [bob.user.deviceId]: "tofu", [bobPhone.user.deviceId]: "direct" },
    ]);
  });

  it("verifyDevice refuses a wrong fingerprint and records nothing", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const attempt = verifyDevice({
      http: alice.http,
      store: alice.store,
      userId: bob.user.userId,
      deviceId: bob.user.deviceId,
      expectedFingerprint: deviceFingerprint(alice.setup.signatureKeyPair.publicKey),
    });
    await expect(attempt).rejects.toMatchObject({ code: "fingerprint-mismatch" });
    expect(await levels(alice, bob)).toEqual({ [bob.user.deviceId]: "tofu" });
  });

  it("a device whose keys are not an MLS device has no level", async () => {
    const alice = await newUser();
    const user = await registerUser(server.url, `verify${++users}`, PASSWORD);
    const olm = newSigningKey();
    const olmOnly = signed(
      {
        user_id: user.userId,
        device_id: user.deviceId,
        algorithms: ["m.olm.v1.curve25519-aes-sha2"],
        keys: { [`ed25519:${user.deviceId}`]: olm.publicKey },
      },
      user.userId,
      `ed25519:${user.deviceId}`,
      olm,
    );
    await request(server.url, "POST", "/_matrix/client/v3/keys/upload", {
      token: user.token,
      body: { device_keys: olmOnly },
    });
    const map = await deviceVerificationLevels({
      http: alice.http,
      store: alice.store,
      ourUserId: alice.user.userId,
      userId: user.userId,
    });
    expect(map.get(user.deviceId)).toEqual({ level: undefined });
  });

  it("returns each valid device's keys and MLS signature key for adding it", async () => {
    const alice = await newUser();
    const bob = await newUser();
    const map = await deviceVerificationLevels({
      http: alice.http,
      store: alice.store,
      ourUserId: alice.user.userId,
      userId: bob.user.userId,
    });
    const entry = map.get(bob.user.deviceId);
    expect([entry?.signaturePublicKey, entry?.deviceKeys?.keys]).toEqual([
      bob.setup.signatureKeyPair.publicKey,
      bob.setup.deviceKeys.keys,
    ]);
  });
});

describe("a homeserver that forges keys", () => {
  const USER = "@alice:forged.example";
  const DEVICE = "ALICEDEVICE";

  /** Our device, holding `ours`, talking to a homeserver that answers every query with `reply`. */
  async function viewer(ours: CrossSigningKeys, reply: object) {
    const store = await openMemoryStore();
    await saveCrossSigningKeys(store, ours);
    const fetch: typeof globalThis.fetch = async () => new Response(JSON.stringify(reply));
    const http = new MatrixHttp({ baseUrl: "http://forged.example", accessToken: "t", fetch });
    return { http, store };
  }
  /** Our own device's keys and cross-signing keys as the server would serve them, signed by `ssk`. */
  async function served(ours: CrossSigningKeys, ssk: Ed25519Key, sskSigner: Ed25519Key) {
    const signatureKeyPair = await generateSignatureKeyPair();
    const deviceKeys = buildDeviceKeys({ userId: USER, deviceId: DEVICE, signatureKeyPair });
    const body = crossSigningUploadBody(USER, { ...ours, selfSigning: ssk });
    // The test helper's signing key form of an Ed25519Key.
    const helperKey = (key: Ed25519Key) => ({ ...key, publicBytes: decodeBase64Unpadded(key.publicKey) });
    const { signatures: _signatures, ...sskJson } = body.self_signing_key as Record<string, unknown>;
    return {
      device_keys: {
        [USER]: { [DEVICE]: signed(deviceKeys, USER, `ed25519:${ssk.publicKey}`, helperKey(ssk)) },
      },
      master_keys: { [USER]: body.master_key },
      self_signing_keys: {
        [USER]: signed(sskJson, USER, `ed25519:${sskSigner.publicKey}`, helperKey(sskSigner)),
      },
    };
  }
  const levelOf = async (ours: CrossSigningKeys, reply: object) => {
    const { http, store } = await viewer(ours, reply);
    const map = await deviceVerificationLevels({ http, store, ourUserId: USER, userId: USER });
    return map.get(DEVICE)?.level;
  };

  it("the same chain served honestly is cross (the baseline of the forgeries below)", async () => {
    const ours = newCrossSigningKeys();
    expect(await levelOf(ours, await served(ours, ours.selfSigning, ours.master))).toBe("cross");
  });

  it("a self-signing key not signed by the master key makes no device cross", async () => {
    const ours = newCrossSigningKeys();
    const forged = newCrossSigningKeys().selfSigning;
    expect(await levelOf(ours, await served(ours, forged, forged))).toBe("none");
  });
});

describe("meetsRequirement", () => {
  const LEVELS: (VerificationLevel | undefined)[] = ["direct", "cross", "tofu", "none", undefined];
  const table = (required: "m.direct" | "m.cross" | "m.tofu" | "m.none") =>
    LEVELS.map((level) => meetsRequirement(level, required));

  it("m.direct takes only direct", () => {
    expect(table("m.direct")).toEqual([true, false, false, false, false]);
  });
  it("m.cross (the section 3 default) takes direct and cross", () => {
    expect(table("m.cross")).toEqual([true, true, false, false, false]);
  });
  it("m.tofu takes direct, cross and tofu", () => {
    expect(table("m.tofu")).toEqual([true, true, true, false, false]);
  });
  it("m.none takes every valid MLS device but never an invalid one", () => {
    expect(table("m.none")).toEqual([true, true, true, true, false]);
  });
  it("an unknown requirement is met by nothing", () => {
    expect(meetsRequirement("direct", "m.other" as "m.direct")).toBe(false);
  });
});
