// Defect 2: a revoked access token ends at once, on both backends, even while requests with it are
// in flight. Each round revokes a token while whoami requests with it keep arriving; once the
// revocation has answered, every request with the token must be 401 M_UNKNOWN_TOKEN.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { loginUser, registerUser } from "../helpers/users.js";

const PASSWORD = "correct horse battery";
const ROUNDS = 30;

describe.each(BACKENDS)("session revocation on %s", (backend) => {
  let server: ServerProcess;
  const whoami = (token: string) =>
    request(server.url, "GET", "/_matrix/client/v3/account/whoami", { token });

  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: { MYELIN_REQUESTS_PER_SECOND: "100000", MYELIN_REQUEST_BURST: "100000" },
    });
  });
  afterAll(async () => {
    await server.destroy();
  });

  /** Runs `revoke` while whoami requests with `token` stream in; then the token must be dead. */
  async function revokeUnderLoad(token: string, revoke: () => Promise<number>): Promise<string[]> {
    expect((await whoami(token)).status).toBe(200); // cached before the revocation
    let done = false;
    const revoked = revoke().finally(() => (done = true));
    const streams = Array.from({ length: 6 }, async () => {
      while (!done) await whoami(token);
    });
    expect(await revoked).toBe(200);
    await Promise.all(streams);
    const after = await Promise.all(Array.from({ length: 5 }, () => whoami(token)));
    return after.map((reply) => `${reply.status} ${String(reply.body.errcode)}`);
  }

  const dead = Array.from({ length: 5 }, () => "401 M_UNKNOWN_TOKEN");

  it(`logout ends the token at once under concurrent requests (${ROUNDS} rounds)`, async () => {
    const user = await registerUser(server.url, "racer", PASSWORD);
    for (let round = 0; round < ROUNDS; round++) {
      const device = await loginUser(server.url, user.userId, PASSWORD);
      const post = () => request(server.url, "POST", "/_matrix/client/v3/logout", { token: device.token });
      expect(await revokeUnderLoad(device.token, async () => (await post()).status)).toEqual(dead);
    }
  });

  it("logout/all ends every token of the user at once under concurrent requests", async () => {
    const user = await registerUser(server.url, "racerall", PASSWORD);
    for (let round = 0; round < 10; round++) {
      const device = await loginUser(server.url, user.userId, PASSWORD);
      const other = await loginUser(server.url, user.userId, PASSWORD);
      const post = () => request(server.url, "POST", "/_matrix/client/v3/logout/all", { token: other.token });
      expect(await revokeUnderLoad(device.token, async () => (await post()).status)).toEqual(dead);
    }
  });

  it("deleting a device ends its token at once under concurrent requests", async () => {
    const user = await registerUser(server.url, "racerdel", PASSWORD);
    for (let round = 0; round < 10; round++) {
      const device = await loginUser(server.url, user.userId, PASSWORD);
      const remove = () =>
        request(server.url, "POST", "/_matrix/client/v3/delete_devices", {
          token: user.token,
          body: {
            devices: [device.deviceId],
            auth: {
              type: "m.login.password",
              identifier: { type: "m.id.user", user: user.userId },
              password: PASSWORD,
            },
          },
        });
      expect(await revokeUnderLoad(device.token, async () => (await remove()).status)).toEqual(dead);
    }
  });
});
