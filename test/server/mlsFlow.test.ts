// The MLS room flow on one server with real MLS messages: create, epoch-0 commit, add a second
// user's device from a claimed key package, Welcome over to-device, invite, join, messages both
// ways (sections 6, 7, 9).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { request } from "../helpers/http.js";
import { registerUser, type TestUser } from "../helpers/users.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";
import {
  claimKeyPackage,
  deviceKeys,
  MLS_ALGORITHM,
  newKeyPackage,
  newMlsDevice,
} from "../helpers/keyPackages.js";

type SyncBody = {
  next_batch: string;
  rooms: {
    join: Record<string, { timeline: { events: Array<{ type: string; content: { ciphertext?: string } }> } }>;
    invite: Record<string, unknown>;
  };
  to_device?: { events: Array<{ sender: string; type: string; content: { ciphertext?: string } }> };
};

describe.each(BACKENDS)("MLS room flow on %s", (backend) => {
  let server: ServerProcess;
  let alice: TestUser;
  let bob: TestUser;
  let roomId: string;
  let aliceMember: MlsMember;
  let bobMember: MlsMember;
  let bobSince: string;
  let welcome: string | undefined;
  const call = (user: TestUser, method: string, path: string, body?: unknown) =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });
  const roomPath = () => `/rooms/${encodeURIComponent(roomId)}`;

  beforeAll(async () => {
    server = await startServerProcess({ backend });
    alice = await registerUser(server.url, "alice");
    bob = await registerUser(server.url, "bob");
    // Bob's device publishes its credential and a key package (section 9).
    const device = newMlsDevice(bob.userId, bob.deviceId);
    const keyPackage = await newKeyPackage(device);
    await call(bob, "POST", "/keys/upload", {
      device_keys: deviceKeys(device),
      one_time_keys: { [keyPackage.keyId]: keyPackage.value },
    });
    bobSince = (await call(bob, "GET", "/sync")).body.next_batch as string;

    const created = await call(alice, "POST", "/createRoom", {});
    roomId = created.body.room_id as string;
    aliceMember = await MlsMember.create(roomId, alice.userId);
    const first = await aliceMember.commit(fed([server.serverName]));
    await call(alice, "PUT", `${roomPath()}/state/de.bwi.mls.commit/`, {
      algorithm: MLS_ALGORITHM,
      ciphertext: first.ciphertext,
    });
    first.adopt();

    const claimed = await claimKeyPackage(server.url, alice.token, bob.userId, bob.deviceId);
    const add = await aliceMember.commit(fed([server.serverName]), [
      MlsMember.readKeyPackage(claimed as string),
    ]);
    const accepted = await call(alice, "PUT", `${roomPath()}/state/de.bwi.mls.commit/`, {
      algorithm: MLS_ALGORITHM,
      ciphertext: add.ciphertext,
    });
    expect(accepted.status).toBe(200);
    add.adopt();
    // Section 7: after the commit is accepted, the Welcome over to-device, then the invite.
    await call(alice, "PUT", "/sendToDevice/m.room.encrypted/welcome1", {
      messages: { [bob.userId]: { [bob.deviceId]: { algorithm: MLS_ALGORITHM, ciphertext: add.welcome } } },
    });
    await call(alice, "POST", `${roomPath()}/invite`, { user_id: bob.userId });

    const sync = (await call(bob, "GET", `/sync?since=${bobSince}`)).body as unknown as SyncBody;
    bobSince = sync.next_batch;
    welcome = sync.to_device?.events.find((e) => e.sender === alice.userId)?.content.ciphertext;
    await call(bob, "POST", `${roomPath()}/join`, {});
    bobMember = await MlsMember.fromWelcome(welcome as string, {
      publicPackage: keyPackage.keyPackage,
      privatePackage: keyPackage.privatePackage,
    });
  }, 60_000);

  afterAll(async () => {
    await server.destroy();
  });

  it("hands the Welcome to the invitee over to-device", () => {
    expect(welcome).toBeDefined();
  });
  it("puts the invitee in the same MLS epoch as the inviter", () => {
    expect(bobMember.epoch).toBe(aliceMember.epoch);
  });
  it("delivers the inviter's message, decryptable by the invitee", async () => {
    const ciphertext = await aliceMember.encrypt("hello bob");
    await call(alice, "PUT", `${roomPath()}/send/m.room.encrypted/a1`, {
      algorithm: MLS_ALGORITHM,
      ciphertext,
    });
    const sync = (await call(bob, "GET", `/sync?since=${bobSince}`)).body as unknown as SyncBody;
    bobSince = sync.next_batch;
    const received =
      sync.rooms.join[roomId]?.timeline.events.filter((e) => e.type === "m.room.encrypted") ?? [];
    expect(await bobMember.receive(received.at(-1)?.content.ciphertext as string)).toBe("hello bob");
  });
  it("delivers the invitee's reply, decryptable by the inviter", async () => {
    const aliceSince = (await call(alice, "GET", "/sync")).body.next_batch as string;
    const ciphertext = await bobMember.encrypt("hello alice");
    await call(bob, "PUT", `${roomPath()}/send/m.room.encrypted/b1`, {
      algorithm: MLS_ALGORITHM,
      ciphertext,
    });
    const sync = (await call(alice, "GET", `/sync?since=${aliceSince}`)).body as unknown as SyncBody;
    const received =
      sync.rooms.join[roomId]?.timeline.events.filter((e) => e.type === "m.room.encrypted") ?? [];
    expect(await aliceMember.receive(received.at(-1)?.content.ciphertext as string)).toBe("hello alice");
  });
});
