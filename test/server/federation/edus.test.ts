// EDUs between real server processes pinned to each other: to-device messages cross servers as
// m.direct_to_device (the Welcome among them, sections 7 and 9), once, and only from and for the
// servers they belong to; device list changes of a user reach the users of other servers who
// share a room with them (m.device_list_update, m.signing_key_update).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64Url } from "../../../src/protocol/base64.js";
import { UNSTABLE_NAMES } from "../../../src/protocol/names.js";
import { request } from "../../helpers/http.js";
import {
  MLS_ALGORITHM,
  claimKeyPackage,
  deviceKeys,
  newKeyPackage,
  newMlsDevice,
  newSigningKey,
  signed,
  type SigningKey,
} from "../../helpers/keyPackages.js";
import { fed, MlsMember } from "../../helpers/mlsMember.js";
import {
  BACKENDS,
  freePort,
  startServerProcess,
  type Backend,
  type ServerProcess,
} from "../../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../../helpers/users.js";
import type { Edu } from "../../../src/server/federationTypes.js";
import {
  databaseRows,
  json,
  pinsEnv,
  serverSigner,
  signedRequest,
  startHttpServer,
  transaction,
  type LocalHttpServer,
} from "./federationPeer.js";

const COMMIT = UNSTABLE_NAMES.commitType;
const PASSWORD = "correct horse battery";

interface SyncBody {
  next_batch: string;
  to_device?: { events: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
  device_lists?: { changed?: string[] };
}

function crossSigningKey(userId: string, usage: string, key: SigningKey, master?: SigningKey) {
  const value = { user_id: userId, usage: [usage], keys: { [`ed25519:${key.publicKey}`]: key.publicKey } };
  return master ? signed(value, userId, `ed25519:${master.publicKey}`, master) : value;
}

/** Two servers pinned to each other and to `extra` (name and port). */
async function startPinnedPair(
  backend: Backend,
  extra: { serverName: string; port: number },
): Promise<[ServerProcess, ServerProcess]> {
  const ports = [await freePort(), await freePort()];
  const pins = pinsEnv([...ports.map((port) => ({ serverName: `localhost:${port}`, port })), extra]);
  return Promise.all(
    ports.map((port) => startServerProcess({ backend, port, env: { MYELIN_FEDERATION_PINS: pins } })),
  ) as Promise<[ServerProcess, ServerProcess]>;
}

describe.each(BACKENDS)("EDUs between two pinned servers on %s", (backend) => {
  let one: ServerProcess;
  let two: ServerProcess;
  // A third "server" that records the transactions sent to it and accepts them all.
  let recorder: LocalHttpServer;
  let recorderName: string;
  let users = 0;
  let txns = 0;

  beforeAll(async () => {
    recorder = await startHttpServer((_request, _body, response) => json(response, 200, { pdus: {} }));
    recorderName = `localhost:${recorder.port}`;
    [one, two] = await startPinnedPair(backend, { serverName: recorderName, port: recorder.port });
  }, 60_000);
  afterAll(async () => {
    await Promise.all([one?.destroy(), two?.destroy(), recorder?.close()]);
  });

  /** The contents of the first `count` EDUs of `eduType` about `userId` the recorder received. */
  async function recordedEdus(eduType: string, userId: string, count: number) {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const found = recorder.requests
        .filter((r) => r.url.startsWith("/_matrix/federation/v1/send/"))
        .flatMap((r) => (JSON.parse(r.body) as { edus?: Edu[] }).edus ?? [])
        .filter((edu) => edu.edu_type === eduType && edu.content.user_id === userId)
        .map((edu) => edu.content);
      if (found.length >= count || Date.now() > deadline) return found;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const call = (server: ServerProcess, user: TestUser, method: string, path: string, body?: unknown) =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });
  const newUser = (server: ServerProcess) => registerUser(server.url, `edu${++users}`, PASSWORD);
  const sync = async (server: ServerProcess, user: TestUser, since?: string, timeout = 0) => {
    const query = `timeout=${timeout}${since === undefined ? "" : `&since=${since}`}`;
    return (await call(server, user, "GET", `/sync?${query}`)).body as unknown as SyncBody;
  };
  const rows = <T>(server: ServerProcess, sql: string) => databaseRows<T>(backend, server.database, sql);

  /** Long-polls `user`'s sync until `done` holds for a response (or 15 s pass); returns it. */
  async function syncUntil(
    server: ServerProcess,
    user: TestUser,
    since: string,
    done: (body: SyncBody) => boolean,
  ): Promise<SyncBody> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const body = await sync(server, user, since, 2_000);
      if (done(body) || Date.now() > deadline) return body;
      since = body.next_batch;
    }
  }

  const toDeviceEvents = (body: SyncBody) => body.to_device?.events ?? [];

  /** A transaction of EDUs from `from` to `to`, X-Matrix signed with `from`'s key. */
  const sendEdus = (from: ServerProcess, to: ServerProcess, txnId: string, edus: unknown[]) =>
    signedRequest(to.url, "PUT", `/_matrix/federation/v1/send/${txnId}`, {
      origin: from.serverName,
      destination: to.serverName,
      signer: serverSigner(from.dataDir),
      body: transaction(from.serverName, [], edus),
    });

  /** A room created by `user` on `server` whose epoch-0 commit lists `servers` (section 3). */
  async function roomWith(server: ServerProcess, user: TestUser, servers: string[]) {
    const roomId = (await call(server, user, "POST", "/createRoom", {})).body.room_id as string;
    const member = await MlsMember.create(roomId, user.userId);
    const commit = await member.commit(fed(servers));
    const reply = await call(server, user, "PUT", `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`, {
      algorithm: MLS_ALGORITHM,
      ciphertext: commit.ciphertext,
    });
    expect(reply.status).toBe(200);
    commit.adopt();
    return { roomId, member };
  }

  describe("m.direct_to_device", () => {
    it("delivers a message to a device of another server's user, once", async () => {
      const [alice, bob] = [await newUser(one), await newUser(two)];
      const since = (await sync(two, bob)).next_batch;
      await call(one, alice, "PUT", `/sendToDevice/m.test/t${++txns}`, {
        messages: { [bob.userId]: { [bob.deviceId]: { hello: "bob" } } },
      });
      const first = await syncUntil(two, bob, since, (body) => toDeviceEvents(body).length > 0);
      expect(toDeviceEvents(first)).toEqual([
        { sender: alice.userId, type: "m.test", content: { hello: "bob" } },
      ]);
      expect(toDeviceEvents(await sync(two, bob, first.next_batch, 500))).toEqual([]);
    });

    it("carries a Welcome-sized (30 KB) message intact", async () => {
      const [alice, bob] = [await newUser(one), await newUser(two)];
      const since = (await sync(two, bob)).next_batch;
      const content = { algorithm: MLS_ALGORITHM, ciphertext: encodeBase64Url(randomBytes(30_000)) };
      await call(one, alice, "PUT", `/sendToDevice/m.room.encrypted/t${++txns}`, {
        messages: { [bob.userId]: { "*": content } },
      });
      const body = await syncUntil(two, bob, since, (b) => toDeviceEvents(b).length > 0);
      expect(toDeviceEvents(body)[0]?.content).toEqual(content);
    });

    it("sections 7 and 9: a Welcome to a user of another server lets them join the group", async () => {
      const [alice, bob] = [await newUser(one), await newUser(two)];
      const device = newMlsDevice(bob.userId, bob.deviceId);
      const keyPackage = await newKeyPackage(device);
      await call(two, bob, "POST", "/keys/upload", {
        device_keys: deviceKeys(device),
        one_time_keys: { [keyPackage.keyId]: keyPackage.value },
      });
      const since = (await sync(two, bob)).next_batch;
      const { roomId, member } = await roomWith(one, alice, [one.serverName, two.serverName]);
      // Bob's key package comes from his server through federation.
      const claimed = await claimKeyPackage(one.url, alice.token, bob.userId, bob.deviceId);
      const add = await member.commit(fed([one.serverName, two.serverName]), [
        MlsMember.readKeyPackage(claimed),
      ]);
      const accepted = await call(
        one,
        alice,
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`,
        {
          algorithm: MLS_ALGORITHM,
          ciphertext: add.ciphertext,
        },
      );
      expect(accepted.status).toBe(200);
      add.adopt();
      await call(one, alice, "PUT", `/sendToDevice/m.room.encrypted/t${++txns}`, {
        messages: { [bob.userId]: { [bob.deviceId]: { algorithm: MLS_ALGORITHM, ciphertext: add.welcome } } },
      });
      const body = await syncUntil(two, bob, since, (b) => toDeviceEvents(b).length > 0);
      const welcome = toDeviceEvents(body)[0]?.content.ciphertext as string;
      const joined = await MlsMember.fromWelcome(welcome, {
        publicPackage: keyPackage.keyPackage,
        privatePackage: keyPackage.privatePackage,
      });
      expect(joined.epoch).toBe(member.epoch);
    });

    it("delivers an EDU repeated in a retried or a new transaction only once (message_id)", async () => {
      const bob = await newUser(two);
      const since = (await sync(two, bob)).next_batch;
      const edu = {
        edu_type: "m.direct_to_device",
        content: {
          sender: `@alice:${one.serverName}`,
          type: "m.test",
          message_id: `m${++txns}`,
          messages: { [bob.userId]: { [bob.deviceId]: { n: 1 } } },
        },
      };
      for (const txnId of [`x${txns}`, `x${txns}`, `y${txns}`]) {
        expect((await sendEdus(one, two, txnId, [edu])).status).toBe(200);
      }
      const body = await sync(two, bob, since);
      expect(toDeviceEvents(body)).toEqual([
        { sender: `@alice:${one.serverName}`, type: "m.test", content: { n: 1 } },
      ]);
    });

    it("refuses messages whose sender is not a user of the sending server", async () => {
      const bob = await newUser(two);
      const since = (await sync(two, bob)).next_batch;
      const forged = {
        edu_type: "m.direct_to_device",
        content: {
          sender: `@eve:localhost:1`,
          type: "m.test",
          message_id: `m${++txns}`,
          messages: { [bob.userId]: { [bob.deviceId]: { forged: true } } },
        },
      };
      expect((await sendEdus(one, two, `f${txns}`, [forged])).status).toBe(200);
      expect(toDeviceEvents(await sync(two, bob, since))).toEqual([]);
    });

    it("stores and relays nothing for users of a third server", async () => {
      const bob = await newUser(two);
      const since = (await sync(two, bob)).next_batch;
      const carol = "@carol:localhost:1";
      const edu = {
        edu_type: "m.direct_to_device",
        content: {
          sender: `@alice:${one.serverName}`,
          type: "m.test",
          message_id: `m${++txns}`,
          messages: { [carol]: { "*": { for: "carol" } }, [bob.userId]: { "*": { for: "bob" } } },
        },
      };
      expect((await sendEdus(one, two, `c${txns}`, [edu])).status).toBe(200);
      expect(toDeviceEvents(await sync(two, bob, since)).map((e) => e.content)).toEqual([{ for: "bob" }]);
      expect(await rows(two, `SELECT * FROM to_device_messages WHERE user_id = '${carol}'`)).toEqual([]);
      expect(
        await rows(two, "SELECT * FROM federation_outbound_items WHERE destination = 'localhost:1'"),
      ).toEqual([]);
    });
  });

  describe("m.device_list_update and m.signing_key_update", () => {
    /** Alice on server one and Bob on server two, each joined to a room listing both servers. */
    async function sharingUsers() {
      const [alice, bob] = [await newUser(one), await newUser(two)];
      const device = newMlsDevice(bob.userId, bob.deviceId);
      // Section 7: each server knows only its own users' membership; a room "shared" with a
      // server is one whose current commit lists it.
      await roomWith(one, alice, [one.serverName, two.serverName]);
      await roomWith(two, bob, [two.serverName, one.serverName]);
      return { alice, bob, device };
    }

    it("announces nothing to a server that shares no room with the user", async () => {
      const bob = await newUser(two);
      const device = newMlsDevice(bob.userId, bob.deviceId);
      await roomWith(two, bob, [two.serverName, one.serverName]);
      await call(two, bob, "POST", "/keys/upload", { device_keys: deviceKeys(device) });
      await roomWith(two, bob, [two.serverName, recorderName]);
      const changed = signed(
        { ...deviceKeys(device), algorithms: [MLS_ALGORITHM, "m.other"] },
        bob.userId,
        `${UNSTABLE_NAMES.prefix}basic:${bob.deviceId}`,
        device.signatureKey,
      );
      await call(two, bob, "POST", "/keys/upload", { device_keys: changed });
      // Each destination's queue is in order: an announcement of the first upload would have
      // reached the recorder no later than that of the second.
      const updates = await recordedEdus("m.device_list_update", bob.userId, 1);
      expect(updates.map((update) => update.keys)).toEqual([changed]);
    });

    it("a device key upload shows the user in device_lists.changed of the other server's users sharing a room", async () => {
      const { alice, bob, device } = await sharingUsers();
      const since = (await sync(one, alice)).next_batch;
      await call(two, bob, "POST", "/keys/upload", { device_keys: deviceKeys(device) });
      const body = await syncUntil(
        one,
        alice,
        since,
        (b) => b.device_lists?.changed?.includes(bob.userId) === true,
      );
      expect(body.device_lists?.changed).toContain(bob.userId);
      const changes = await call(one, alice, "GET", `/keys/changes?from=${since}&to=${body.next_batch}`);
      expect(changes.body.changed).toContain(bob.userId);
    });

    it("announces a device key upload as m.device_list_update with its keys, stream_id and prev_id", async () => {
      const bob = await newUser(two);
      await roomWith(two, bob, [two.serverName, recorderName]);
      const device = newMlsDevice(bob.userId, bob.deviceId);
      await call(two, bob, "POST", "/keys/upload", { device_keys: deviceKeys(device) });
      const changed = signed(
        { ...deviceKeys(device), algorithms: [MLS_ALGORITHM, "m.other"] },
        bob.userId,
        `${UNSTABLE_NAMES.prefix}basic:${bob.deviceId}`,
        device.signatureKey,
      );
      await call(two, bob, "POST", "/keys/upload", { device_keys: changed });
      const [first, second] = await recordedEdus("m.device_list_update", bob.userId, 2);
      expect(first).toMatchObject({ device_id: bob.deviceId, prev_id: [], keys: deviceKeys(device) });
      expect(second).toMatchObject({ device_id: bob.deviceId, prev_id: [first?.stream_id], keys: changed });
      expect(second?.stream_id).toBeGreaterThan(first?.stream_id as number);
    });

    it("announces cross-signing keys as m.signing_key_update, never the user-signing key", async () => {
      const bob = await newUser(two);
      await roomWith(two, bob, [two.serverName, recorderName]);
      const master = newSigningKey();
      const masterKey = crossSigningKey(bob.userId, "master", master);
      const selfKey = crossSigningKey(bob.userId, "self_signing", newSigningKey(), master);
      await call(two, bob, "POST", "/keys/device_signing/upload", {
        master_key: masterKey,
        self_signing_key: selfKey,
        user_signing_key: crossSigningKey(bob.userId, "user_signing", newSigningKey(), master),
      });
      const [update] = await recordedEdus("m.signing_key_update", bob.userId, 1);
      expect(update).toEqual({ user_id: bob.userId, master_key: masterKey, self_signing_key: selfKey });
    });

    it("a cross-signing key upload shows the user in device_lists.changed on the other server", async () => {
      const { alice, bob } = await sharingUsers();
      const since = (await sync(one, alice)).next_batch;
      await call(two, bob, "POST", "/keys/device_signing/upload", {
        master_key: crossSigningKey(bob.userId, "master", newSigningKey()),
      });
      const body = await syncUntil(
        one,
        alice,
        since,
        (b) => b.device_lists?.changed?.includes(bob.userId) === true,
      );
      expect(body.device_lists?.changed).toContain(bob.userId);
    });

    it("announces a signature on the user's own device as m.device_list_update with the signature", async () => {
      const bob = await newUser(two);
      await roomWith(two, bob, [two.serverName, recorderName]);
      const device = newMlsDevice(bob.userId, bob.deviceId);
      await call(two, bob, "POST", "/keys/upload", { device_keys: deviceKeys(device) });
      const [master, selfSigning] = [newSigningKey(), newSigningKey()];
      await call(two, bob, "POST", "/keys/device_signing/upload", {
        master_key: crossSigningKey(bob.userId, "master", master),
        self_signing_key: crossSigningKey(bob.userId, "self_signing", selfSigning, master),
      });
      const signedDevice = signed(
        deviceKeys(device),
        bob.userId,
        `ed25519:${selfSigning.publicKey}`,
        selfSigning,
      );
      const reply = await call(two, bob, "POST", "/keys/signatures/upload", {
        [bob.userId]: { [bob.deviceId]: signedDevice },
      });
      expect(reply.body).toEqual({ failures: {} });
      const updates = await recordedEdus("m.device_list_update", bob.userId, 2);
      expect(updates[1]).toMatchObject({ device_id: bob.deviceId, keys: signedDevice });
    });

    it("announces a deleted device as m.device_list_update with deleted: true", async () => {
      const bob = await newUser(two);
      await roomWith(two, bob, [two.serverName, recorderName]);
      const login = await request(two.url, "POST", "/_matrix/client/v3/login", {
        body: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: bob.userId },
          password: PASSWORD,
        },
      });
      const second = {
        ...bob,
        token: login.body.access_token as string,
        deviceId: login.body.device_id as string,
      };
      await call(two, second, "POST", "/keys/upload", {
        device_keys: deviceKeys(newMlsDevice(bob.userId, second.deviceId)),
      });
      const path = `/devices/${second.deviceId}`;
      const { session } = (await call(two, bob, "DELETE", path, {})).body;
      const auth = {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: bob.userId },
        password: PASSWORD,
      };
      expect((await call(two, bob, "DELETE", path, { auth: { ...auth, session } })).status).toBe(200);
      const [, deleted] = await recordedEdus("m.device_list_update", bob.userId, 2);
      expect(deleted).toMatchObject({ device_id: second.deviceId, deleted: true });
      expect(deleted).not.toHaveProperty("keys");
    });

    it("ignores an update about a user of another server than the sending one", async () => {
      const { bob } = await sharingUsers();
      const since = (await sync(two, bob)).next_batch;
      const intruder = "@mallory:localhost:1";
      const edu = {
        edu_type: "m.device_list_update",
        content: { user_id: intruder, device_id: "X", stream_id: 1, prev_id: [] },
      };
      expect((await sendEdus(one, two, `d${++txns}`, [edu])).status).toBe(200);
      expect((await sync(two, bob, since)).device_lists?.changed ?? []).not.toContain(intruder);
      expect(await rows(two, `SELECT * FROM device_list_changes WHERE user_id = '${intruder}'`)).toEqual([]);
    });
  });
});
