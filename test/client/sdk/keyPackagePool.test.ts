// Section 9 key packages through the SDK: a pool of one-time key packages and a last-resort one
// are on the server from login on, and the pool is topped up from the counts sync reports.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MLS_ALGORITHM } from "../../../src/client/keyPackagePool.js";
import { request } from "../../helpers/http.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { registerClient, removeStoreFolders, type TestClient } from "../../helpers/sdkClients.js";
import { registerUser, type TestUser } from "../../helpers/users.js";

describe("the SDK's key package pool", () => {
  let server: ServerProcess;
  let alice: TestClient;
  let claimer: TestUser;
  let aliceToken: string;

  const listed = async () => {
    const reply = await request<{ one_time_keys: string[]; fallback_keys: string[] }>(
      server.url,
      "GET",
      "/_matrix/client/v3/keys/list",
      { token: aliceToken },
    );
    return reply.body;
  };

  beforeAll(async () => {
    server = await startServerProcess();
    alice = await registerClient(server.url, "alice");
    claimer = await registerUser(server.url, "claimer");
    aliceToken = (
      await request<{ access_token: string }>(server.url, "POST", "/_matrix/client/v3/login", {
        body: {
          type: "m.login.password",
          identifier: { type: "m.id.user", user: "alice" },
          password: "correct horse battery staple",
          device_id: alice.client.deviceId,
        },
      })
    ).body.access_token;
  }, 60_000);

  afterAll(async () => {
    await alice?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("uploads 25 one-time key packages and one last-resort key package at login", async () => {
    const keys = await listed();
    expect({ oneTime: keys.one_time_keys.length, fallback: keys.fallback_keys.length }).toEqual({
      oneTime: 25,
      fallback: 1,
    });
  });

  it("names every key package by the MLS algorithm (D17, D20)", async () => {
    const keys = await listed();
    expect(
      [...keys.one_time_keys, ...keys.fallback_keys].every((id) => id.startsWith(`${MLS_ALGORITHM}:`)),
    ).toBe(true);
  });

  it("tops the pool up again once claims drained it below ten", async () => {
    for (let i = 0; i < 20; i++) {
      await request(server.url, "POST", "/_matrix/client/v3/keys/claim", {
        token: claimer.token,
        body: { one_time_keys: { [alice.client.userId]: { [alice.client.deviceId]: MLS_ALGORITHM } } },
      });
    }
    expect((await listed()).one_time_keys).toHaveLength(5);
    await alice.client.syncOnce(0);
    expect((await listed()).one_time_keys).toHaveLength(25);
  });
});
