// Defect 3: password guessing and the hashing it costs are limited. Login and registration
// requests count against the client address, failed password checks against the user name, and
// a full hashing queue answers 429 instead of queueing without bound.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, type Reply } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser } from "../helpers/users.js";

const PASSWORD = "correct horse battery";
const FAILURE_BURST = 3;
const ATTEMPT_BURST = 6;

const login = (server: ServerProcess, user: string, password: string) =>
  request(server.url, "POST", "/_matrix/client/v3/login", {
    body: { type: "m.login.password", identifier: { type: "m.id.user", user }, password },
  });

function expectLimited(reply: Reply): void {
  expect([reply.status, reply.body.errcode]).toEqual([429, "M_LIMIT_EXCEEDED"]);
  expect(reply.body.retry_after_ms).toBeGreaterThan(0);
}

describe.each(BACKENDS)("login limits per user name and hashing queue on %s", (backend) => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: {
        MYELIN_AUTH_FAILURES_PER_MINUTE: "1",
        MYELIN_AUTH_FAILURE_BURST: String(FAILURE_BURST),
        MYELIN_AUTH_HASH_WORKERS: "1",
        MYELIN_AUTH_HASH_QUEUE: "1",
      },
    });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it(`answers wrong passwords for one user name with 429 M_LIMIT_EXCEEDED after ${FAILURE_BURST}`, async () => {
    await registerUser(server.url, "guessed", PASSWORD);
    for (let i = 0; i < FAILURE_BURST; i++)
      expect((await login(server, "guessed", `wrong ${i}`)).status).toBe(403);
    expectLimited(await login(server, "guessed", "wrong again"));
    // While limited, even the right password is not checked (no hashing for a limited name).
    expectLimited(await login(server, "@guessed:" + server.serverName, PASSWORD));
    // Other users are not affected.
    await registerUser(server.url, "bystander", PASSWORD);
    expect((await login(server, "bystander", PASSWORD)).status).toBe(200);
  });

  it(`answers registrations of a taken user name with 429 M_LIMIT_EXCEEDED after ${FAILURE_BURST}`, async () => {
    await registerUser(server.url, "taken", PASSWORD);
    const again = () =>
      request(server.url, "POST", "/_matrix/client/v3/register", {
        body: { username: "taken", password: PASSWORD, auth: { type: "m.login.dummy" } },
      });
    for (let i = 0; i < FAILURE_BURST; i++) expect((await again()).body.errcode).toBe("M_USER_IN_USE");
    expectLimited(await again());
  });

  it("answers 429 M_LIMIT_EXCEEDED with retry_after_ms when the hashing queue is full", async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, i) => login(server, `flooder${i}`, "wrong password")),
    );
    const limited = replies.filter((reply) => reply.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    for (const reply of limited) expectLimited(reply);
    expect(replies.filter((reply) => reply.status === 403).length).toBeGreaterThan(0);
  });
});

describe.each(BACKENDS)("login and registration limits per address on %s", (backend) => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: { MYELIN_AUTH_ATTEMPTS_PER_MINUTE: "1", MYELIN_AUTH_ATTEMPT_BURST: String(ATTEMPT_BURST) },
    });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it(`answers login and registration requests from one address with 429 after ${ATTEMPT_BURST}`, async () => {
    const replies = [];
    for (let i = 0; i < ATTEMPT_BURST; i++) replies.push(await login(server, `name${i}`, "wrong password"));
    expect(replies.map((reply) => reply.status)).toEqual(Array.from({ length: ATTEMPT_BURST }, () => 403));
    expectLimited(await login(server, "yet-another-name", "wrong password"));
    expectLimited(
      await request(server.url, "POST", "/_matrix/client/v3/register", {
        body: { username: "newcomer", password: PASSWORD, auth: { type: "m.login.dummy" } },
      }),
    );
  });
});
