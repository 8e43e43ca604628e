// Registration modes other than open: "token" (UIA stage m.login.registration_token) and
// "closed"; on both storage backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { expectMatchesSpec } from "../helpers/specSchema.js";

const PASSWORD = "correct horse battery";
const VALIDITY = "/_matrix/client/v1/register/m.login.registration_token/validity";

describe.each(BACKENDS)("token registration on %s", (backend) => {
  let server: ServerProcess;
  const register = (body: Record<string, unknown>) =>
    request(server.url, "POST", "/_matrix/client/v3/register", { body });
  const isAvailable = async (username: string) =>
    (await request(server.url, "GET", `/_matrix/client/v3/register/available?username=${username}`))
      .status === 200;

  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: { MYELIN_REGISTRATION: "token", MYELIN_REGISTRATION_TOKENS: "first-token,second-token" },
    });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("offers the m.login.registration_token stage only", async () => {
    const reply = await register({ username: "asks", password: PASSWORD });
    expect(reply.status).toBe(401);
    await expectMatchesSpec("registration.yaml", "/register", "post", 401, reply.body);
    expect(reply.body.flows).toEqual([{ stages: ["m.login.registration_token"] }]);
  });
  it("registers with a configured token", async () => {
    const challenge = await register({ username: "invited", password: PASSWORD });
    const reply = await register({
      username: "invited",
      password: PASSWORD,
      auth: { type: "m.login.registration_token", token: "second-token", session: challenge.body.session },
    });
    expect(reply.status).toBe(200);
    await expectMatchesSpec("registration.yaml", "/register", "post", 200, reply.body);
    expect(reply.body.user_id).toBe(`@invited:${server.serverName}`);
  });
  it("lets a token be used again (tokens have no use limit)", async () => {
    for (const username of ["reuse1", "reuse2"]) {
      const reply = await register({
        username,
        password: PASSWORD,
        auth: { type: "m.login.registration_token", token: "first-token" },
      });
      expect(reply.status).toBe(200);
    }
  });
  it("refuses a wrong token with 401 M_UNAUTHORIZED and the session to retry, creating nothing", async () => {
    const challenge = await register({ username: "gatecrasher", password: PASSWORD });
    const reply = await register({
      username: "gatecrasher",
      password: PASSWORD,
      auth: { type: "m.login.registration_token", token: "first-token-not", session: challenge.body.session },
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    await expectMatchesSpec("registration.yaml", "/register", "post", 401, reply.body);
    expect(reply.body.session).toBe(challenge.body.session);
    expect(await isAvailable("gatecrasher")).toBe(true);
  });
  it("lets the client retry the same session with the right token", async () => {
    const challenge = await register({ username: "retrier", password: PASSWORD });
    const auth = { type: "m.login.registration_token", session: challenge.body.session };
    await register({ username: "retrier", password: PASSWORD, auth: { ...auth, token: "wrong" } });
    const reply = await register({
      username: "retrier",
      password: PASSWORD,
      auth: { ...auth, token: "first-token" },
    });
    expect(reply.status).toBe(200);
  });
  it("refuses a token stage without a token", async () => {
    const reply = await register({
      username: "notoken",
      password: PASSWORD,
      auth: { type: "m.login.registration_token" },
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
  });
  it("refuses m.login.dummy, which is not offered in this mode", async () => {
    const reply = await register({ username: "dummy", password: PASSWORD, auth: { type: "m.login.dummy" } });
    expect(reply.status).toBe(401);
    expect(await isAvailable("dummy")).toBe(true);
  });
  it("says a configured token is valid", async () => {
    const reply = await request(server.url, "GET", `${VALIDITY}?token=first-token`);
    await expectMatchesSpec(
      "registration_tokens.yaml",
      "/register/m.login.registration_token/validity",
      "get",
      200,
      reply.body,
    );
    expect(reply.body).toEqual({ valid: true });
  });
  it("says an unknown token is not valid", async () => {
    const reply = await request(server.url, "GET", `${VALIDITY}?token=nope`);
    expect([reply.status, reply.body]).toEqual([200, { valid: false }]);
  });
});

describe.each(BACKENDS)("closed registration on %s", (backend) => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ backend, env: { MYELIN_REGISTRATION: "closed" } });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("refuses registration with 403 M_FORBIDDEN, even with a UIA stage", async () => {
    const reply = await request(server.url, "POST", "/_matrix/client/v3/register", {
      body: { username: "closed", password: PASSWORD, auth: { type: "m.login.dummy" } },
    });
    expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
  });
  it("refuses the availability check with 403 M_FORBIDDEN", async () => {
    const reply = await request(server.url, "GET", "/_matrix/client/v3/register/available?username=closed");
    expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
  });
  it("calls every registration token invalid with 403 M_FORBIDDEN", async () => {
    const reply = await request(server.url, "GET", `${VALIDITY}?token=anything`);
    expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
  });
  it("still offers password login", async () => {
    const reply = await request(server.url, "GET", "/_matrix/client/v3/login");
    expect(reply.body).toEqual({ flows: [{ type: "m.login.password" }] });
  });
});
