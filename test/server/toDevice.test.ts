// Send-to-device messaging over HTTP: validation, idempotent sends per transaction ID, delivery
// through /sync in order (at most 100 per response, none lost or repeated), deletion once the
// device syncs past them, and wake-ups of long-polling syncs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, type Reply } from "../helpers/http.js";
import { expectMatchesSpec } from "../helpers/specSchema.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const PASSWORD = "correct horse battery";

interface ToDeviceSync {
  next_batch: string;
  to_device?: { events: Array<{ sender: string; type: string; content: Record<string, unknown> }> };
}

describe.each(BACKENDS)("send-to-device on %s", (backend) => {
  let server: ServerProcess;
  let users = 0;
  let txns = 0;
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Reply> =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });
  const newUser = () => registerUser(server.url, `td${++users}`, PASSWORD);
  const send = (from: TestUser, messages: unknown, txnId = `t${++txns}`, type = "m.test") =>
    call(from, "PUT", `/sendToDevice/${type}/${txnId}`, { messages });
  const sync = async (user: TestUser, since?: string, timeout = 0) => {
    const query = `timeout=${timeout}${since === undefined ? "" : `&since=${since}`}`;
    return (await call(user, "GET", `/sync?${query}`)).body as unknown as ToDeviceSync;
  };
  const contents = (response: ToDeviceSync) => (response.to_device?.events ?? []).map((e) => e.content);

  async function secondDevice(user: TestUser): Promise<TestUser> {
    const login = await request(server.url, "POST", "/_matrix/client/v3/login", {
      body: {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: user.userId },
        password: PASSWORD,
      },
    });
    return { ...user, token: login.body.access_token as string, deviceId: login.body.device_id as string };
  }

  beforeAll(async () => {
    // Some tests send more messages than one token's default request burst allows.
    server = await startServerProcess({
      backend,
      env: { MYELIN_REQUESTS_PER_SECOND: "10000", MYELIN_REQUEST_BURST: "10000" },
    });
  });
  afterAll(async () => {
    await server.destroy();
  });

  describe("PUT /sendToDevice", () => {
    it("answers an empty object", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const reply = await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
      expect([reply.status, reply.body]).toEqual([200, {}]);
      await expectMatchesSpec("to_device.yaml", "/sendToDevice/{eventType}/{txnId}", "put", 200, reply.body);
    });

    it("refuses a body without messages with M_MISSING_PARAM", async () => {
      const alice = await newUser();
      const reply = await call(alice, "PUT", "/sendToDevice/m.test/t", {});
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    });

    it("refuses a message that is not an object with M_BAD_JSON", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const reply = await send(alice, { [bob.userId]: { [bob.deviceId]: "text" } });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });

    it("refuses a recipient that is not a user ID with M_INVALID_PARAM", async () => {
      const alice = await newUser();
      const reply = await send(alice, { "not-a-user": { DEVICE: {} } });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });

    it("refuses a send without an access token with M_MISSING_TOKEN", async () => {
      const reply = await request(server.url, "PUT", "/_matrix/client/v3/sendToDevice/m.test/t", {
        body: { messages: {} },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    });

    it("accepts a message to a user of another server", async () => {
      const alice = await newUser();
      const reply = await send(alice, { "@someone:elsewhere.example": { DEVICE: { n: 1 } } });
      expect([reply.status, reply.body]).toEqual([200, {}]);
    });
  });

  describe("delivery through /sync", () => {
    it("delivers a message to the named device with sender, type and content", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      await send(
        alice,
        { [bob.userId]: { [bob.deviceId]: { hello: "bob" } } },
        undefined,
        "m.room.encrypted",
      );
      expect((await sync(bob)).to_device?.events).toEqual([
        { sender: alice.userId, type: "m.room.encrypted", content: { hello: "bob" } },
      ]);
    });

    it("stores nothing new for a repeated transaction ID", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const first = await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } }, "same");
      const repeat = await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 2 } } }, "same");
      expect([first.body, repeat.body, contents(await sync(bob))]).toEqual([{}, {}, [{ n: 1 }]]);
    });

    it("treats the same transaction ID from another device as a new send", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const alice2 = await secondDevice(alice);
      await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } }, "same");
      await send(alice2, { [bob.userId]: { [bob.deviceId]: { n: 2 } } }, "same");
      expect(contents(await sync(bob))).toEqual([{ n: 1 }, { n: 2 }]);
    });

    it('delivers a "*" message to every device, a device-specific one instead where given', async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const bob2 = await secondDevice(bob);
      await send(alice, { [bob.userId]: { "*": { to: "all" }, [bob2.deviceId]: { to: "second" } } });
      expect([contents(await sync(bob)), contents(await sync(bob2))]).toEqual([
        [{ to: "all" }],
        [{ to: "second" }],
      ]);
    });

    it("delivers nothing for a device the user does not have", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      await send(alice, { [bob.userId]: { NOSUCHDEVICE: { n: 1 } } });
      expect(contents(await sync(bob))).toEqual([]);
    });

    it("delivers the same messages again to a sync repeating its since token", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const start = await sync(bob);
      await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
      const [once, again] = [await sync(bob, start.next_batch), await sync(bob, start.next_batch)];
      expect([contents(once), contents(again)]).toEqual([[{ n: 1 }], [{ n: 1 }]]);
    });

    it("deletes delivered messages once the device syncs with the next token", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const start = await sync(bob);
      await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
      const delivered = await sync(bob, start.next_batch);
      const next = await sync(bob, delivered.next_batch);
      const fromStart = await sync(bob, start.next_batch);
      expect([contents(delivered), contents(next), contents(fromStart)]).toEqual([[{ n: 1 }], [], []]);
    });

    it("delivers 250 messages in order, at most 100 per response, none lost or repeated", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      for (let n = 0; n < 250; n++) await send(alice, { [bob.userId]: { [bob.deviceId]: { n } } });
      const sizes: number[] = [];
      const received: unknown[] = [];
      let since: string | undefined;
      for (let round = 0; round < 5; round++) {
        const response = await sync(bob, since);
        sizes.push(contents(response).length);
        received.push(...contents(response));
        since = response.next_batch;
      }
      expect(sizes).toEqual([100, 100, 50, 0, 0]);
      expect(received).toEqual(Array.from({ length: 250 }, (_, n) => ({ n })));
    });

    it("wakes a long-polling sync of the recipient", async () => {
      const [alice, bob] = [await newUser(), await newUser()];
      const start = await sync(bob);
      const started = Date.now();
      const waiting = sync(bob, start.next_batch, 20_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await send(alice, { [bob.userId]: { [bob.deviceId]: { n: 1 } } });
      expect(contents(await waiting)).toEqual([{ n: 1 }]);
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });
});
