// Defect 4: the request rate limit cannot be dodged with made-up access tokens. Only a token that
// authenticates has a bucket of its own; unknown or missing tokens count against the address.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const BURST = 20;

describe.each(BACKENDS)("request rate limits on %s", (backend) => {
  let server: ServerProcess;
  let user: TestUser;
  const whoami = (token: string) =>
    request(server.url, "GET", "/_matrix/client/v3/account/whoami", { token });

  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: { MYELIN_REQUESTS_PER_SECOND: "1", MYELIN_REQUEST_BURST: String(BURST) },
    });
    user = await registerUser(server.url, "limited");
  });
  afterAll(async () => {
    await server.destroy();
  });

  const randomToken = () => `myl_${randomBytes(32).toString("base64url")}`;

  it("answers a fresh random token per request with 429 M_LIMIT_EXCEEDED after the address's burst", async () => {
    const replies = [];
    for (let i = 0; i < BURST + 30; i++) replies.push(await whoami(randomToken()));
    // The bucket refills at 1/s, so a slow machine sees a few more 401s, never 30.
    const limited = replies.filter((reply) => reply.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    for (const reply of limited) {
      expect(reply.body.errcode).toBe("M_LIMIT_EXCEEDED");
      expect(reply.body.retry_after_ms).toBeGreaterThan(0);
    }
  });

  it("limits a token that authenticates by its own bucket, not by the exhausted address", async () => {
    let madeUp = await whoami(randomToken());
    for (let i = 0; i < BURST + 5 && madeUp.status !== 429; i++) madeUp = await whoami(randomToken());
    expect(madeUp.status).toBe(429);
    expect((await whoami(user.token)).status).toBe(200);
  });
});
