// Device set-up and cross-signing against a real homeserver process: the first device creates
// the user's cross-signing keys and signs itself; later devices wait for its approval.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fingerprint,
  newCrossSigningKeys,
  signOwnDevice,
  uploadCrossSigningKeys,
} from "../../../src/client/device/crossSigning.js";
import { credentialKeyId } from "../../../src/client/device/deviceKeys.js";
import { loadCrossSigningKeys } from "../../../src/client/device/deviceStore.js";
import { DeviceTrustError } from "../../../src/client/device/errors.js";
import { approveOwnDevice, setUpDevice } from "../../../src/client/device/setUpDevice.js";
import { MatrixHttp } from "../../../src/client/http/matrixHttp.js";
import type { ClientStore } from "../../../src/client/store/clientStore.js";
import { openMemoryStore } from "../../../src/client/store/memoryStore.js";
import { request } from "../../helpers/http.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { loginUser, registerUser, type TestUser } from "../../helpers/users.js";

const PASSWORD = "correct horse battery";

interface Device {
  readonly user: TestUser;
  readonly http: MatrixHttp;
  readonly store: ClientStore;
}

interface QueriedKeys {
  device_keys: Record<string, Record<string, { signatures: Record<string, Record<string, string>> }>>;
  master_keys: Record<string, { keys: Record<string, string> }>;
  self_signing_keys: Record<string, { keys: Record<string, string> }>;
}

describe("device set-up and cross-signing", () => {
  let server: ServerProcess;
  let users = 0;

  beforeAll(async () => {
    server = await startServerProcess({ backend: "sqlite" });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  async function device(user: TestUser): Promise<Device> {
    return {
      user,
      http: new MatrixHttp({ baseUrl: server.url, accessToken: user.token }),
      store: await openMemoryStore(),
    };
  }
  const newUser = async () => device(await registerUser(server.url, `setup${++users}`, PASSWORD));
  const secondDevice = async (first: Device) =>
    device(await loginUser(server.url, first.user.userId, PASSWORD));

  const setUp = (d: Device) =>
    setUpDevice({
      http: d.http,
      store: d.store,
      userId: d.user.userId,
      deviceId: d.user.deviceId,
      password: PASSWORD,
    });
  const query = async (d: Device) =>
    (
      await request<QueriedKeys>(server.url, "POST", "/_matrix/client/v3/keys/query", {
        token: d.user.token,
        body: { device_keys: { [d.user.userId]: [] } },
      })
    ).body;
  const selfSigningKeyId = (keys: QueriedKeys, userId: string) =>
    Object.keys(keys.self_signing_keys[userId]?.keys ?? {})[0] as string;
  const deviceSignatures = (keys: QueriedKeys, d: Device) =>
    Object.keys(keys.device_keys[d.user.userId]?.[d.user.deviceId]?.signatures[d.user.userId] ?? {});

  it("the first device creates and uploads cross-signing keys and signs itself", async () => {
    const alice = await newUser();
    const setup = await setUp(alice);
    const keys = await query(alice);
    expect(setup.crossSigning).toBeDefined();
    expect(Object.keys(keys.master_keys[alice.user.userId]?.keys ?? {})).toEqual([
      `ed25519:${setup.crossSigning?.master.publicKey}`,
    ]);
    expect(deviceSignatures(keys, alice).sort()).toEqual(
      [credentialKeyId(alice.user.deviceId), selfSigningKeyId(keys, alice.user.userId)].sort(),
    );
  });

  it("keeps the cross-signing keys in the store of the first device", async () => {
    const alice = await newUser();
    const setup = await setUp(alice);
    expect((await loadCrossSigningKeys(alice.store))?.master.publicKey).toBe(
      setup.crossSigning?.master.publicKey,
    );
  });

  it("set-up run again reuses the stored signature key and keeps the same keys", async () => {
    const alice = await newUser();
    const first = await setUp(alice);
    const again = await setUp(alice);
    expect([again.deviceKeys, again.crossSigning?.master.publicKey]).toEqual([
      first.deviceKeys,
      first.crossSigning?.master.publicKey,
    ]);
    expect(deviceSignatures(await query(alice), alice)).toHaveLength(2);
  });

  it("a second device is unsigned until the first approves it", async () => {
    const first = await newUser();
    await setUp(first);
    const second = await secondDevice(first);
    const setup = await setUp(second);
    const before = deviceSignatures(await query(second), second);
    await approveOwnDevice(first.http, first.store, first.user.userId, second.user.deviceId);
    const keys = await query(second);
    expect([setup.crossSigning, before]).toEqual([undefined, [credentialKeyId(second.user.deviceId)]]);
    expect(deviceSignatures(keys, second)).toContain(selfSigningKeyId(keys, second.user.userId));
  });

  it("a device without the cross-signing keys cannot approve another", async () => {
    const first = await newUser();
    await setUp(first);
    const second = await secondDevice(first);
    await setUp(second);
    const approval = approveOwnDevice(second.http, second.store, second.user.userId, first.user.deviceId);
    await expect(approval).rejects.toMatchObject({ code: "no-cross-signing-keys" });
  });

  it("refuses to approve a device that has no MLS device keys", async () => {
    const first = await newUser();
    await setUp(first);
    const bare = await secondDevice(first);
    const approval = approveOwnDevice(first.http, first.store, first.user.userId, bare.user.deviceId);
    await expect(approval).rejects.toMatchObject({ code: "invalid-device" });
  });

  it("refuses a store of another device", async () => {
    const first = await newUser();
    await setUp(first);
    const second = await secondDevice(first);
    const wrongStore = setUpDevice({
      http: second.http,
      store: first.store,
      userId: second.user.userId,
      deviceId: second.user.deviceId,
    });
    await expect(wrongStore).rejects.toMatchObject({ code: "store-mismatch" });
  });

  describe("replacing cross-signing keys", () => {
    it("asks for the password when none is given", async () => {
      const alice = await newUser();
      await setUp(alice);
      const upload = uploadCrossSigningKeys(alice.http, alice.user.userId, newCrossSigningKeys());
      await expect(upload).rejects.toMatchObject({ code: "password-required" });
    });

    it("reports a wrong password as refused", async () => {
      const alice = await newUser();
      await setUp(alice);
      const upload = uploadCrossSigningKeys(alice.http, alice.user.userId, newCrossSigningKeys(), "wrong");
      await expect(upload).rejects.toBeInstanceOf(DeviceTrustError);
      await expect(upload).rejects.toMatchObject({ code: "password-rejected" });
    });

    it("replaces them with the account password (user-interactive auth)", async () => {
      const alice = await newUser();
      await setUp(alice);
      const replacement = newCrossSigningKeys();
      await uploadCrossSigningKeys(alice.http, alice.user.userId, replacement, PASSWORD);
      const keys = await query(alice);
      expect(Object.values(keys.master_keys[alice.user.userId]?.keys ?? {})).toEqual([
        replacement.master.publicKey,
      ]);
    });

    it("the new self-signing key can sign the device again", async () => {
      const alice = await newUser();
      const setup = await setUp(alice);
      const replacement = newCrossSigningKeys();
      await uploadCrossSigningKeys(alice.http, alice.user.userId, replacement, PASSWORD);
      await signOwnDevice(alice.http, alice.user.userId, replacement, setup.deviceKeys);
      expect(deviceSignatures(await query(alice), alice)).toContain(
        `ed25519:${replacement.selfSigning.publicKey}`,
      );
    });
  });

  it("fingerprint groups the master key's base64 in fours", () => {
    expect(fingerprint("abcdefghij")).toBe("abcd efgh ij");
  });
});
