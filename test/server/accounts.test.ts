// Accounts in open registration mode: registration with User-Interactive Auth, password login,
// whoami and logout, and how passwords are stored; on both storage backends.
import { existsSync, readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { expectMatchesSpec } from "../helpers/specSchema.js";
import { registerUser } from "../helpers/users.js";

const PASSWORD = "correct horse battery";

/** Everything the server stored, as text: the SQLite files' bytes, or every PostgreSQL row. */
async function storedText(server: ServerProcess): Promise<string> {
  if (!server.database.startsWith("postgres")) {
    return [server.database, `${server.database}-wal`]
      .filter((file) => existsSync(file))
      .map((file) => readFileSync(file).toString("latin1"))
      .join("\n");
  }
  const client = new pg.Client({ connectionString: server.database });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
    );
    const rows = await Promise.all(tables.rows.map((t) => client.query(`SELECT * FROM "${t.table_name}"`)));
    return JSON.stringify(rows.map((result) => result.rows));
  } finally {
    await client.end();
  }
}

describe.each(BACKENDS)("accounts on %s", (backend) => {
  let server: ServerProcess;
  const call = (
    method: string,
    path: string,
    options: { token?: string; body?: unknown; rawBody?: string } = {},
  ) => request(server.url, method, `/_matrix/client/v3${path}`, options);
  const register = (body: Record<string, unknown>, query = "") =>
    call("POST", `/register${query}`, { body: { auth: { type: "m.login.dummy" }, ...body } });
  const login = (body: Record<string, unknown>) =>
    call("POST", "/login", { body: { type: "m.login.password", ...body } });
  const isAvailable = async (username: string) =>
    (await call("GET", `/register/available?username=${encodeURIComponent(username)}`)).status === 200;

  beforeAll(async () => {
    server = await startServerProcess({ backend });
  });
  afterAll(async () => {
    await server.destroy();
  });

  describe("POST /register", () => {
    it("answers a request without auth with 401, the m.login.dummy flow and a session", async () => {
      const reply = await call("POST", "/register", { body: { username: "flows", password: PASSWORD } });
      expect(reply.status).toBe(401);
      await expectMatchesSpec("registration.yaml", "/register", "post", 401, reply.body);
      expect(reply.body).toMatchObject({ flows: [{ stages: ["m.login.dummy"] }], params: {} });
      expect(reply.body.errcode).toBeUndefined();
      expect(typeof reply.body.session).toBe("string");
    });
    it("answers an empty body with the flows too", async () => {
      const reply = await call("POST", "/register", { body: {} });
      expect([reply.status, reply.body.flows]).toEqual([401, [{ stages: ["m.login.dummy"] }]]);
    });
    it("registers with the session of the challenge and returns user_id, access_token and device_id", async () => {
      const first = await call("POST", "/register", {
        body: { username: "withsession", password: PASSWORD },
      });
      const reply = await call("POST", "/register", {
        body: {
          username: "withsession",
          password: PASSWORD,
          auth: { type: "m.login.dummy", session: first.body.session },
        },
      });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("registration.yaml", "/register", "post", 200, reply.body);
      expect(reply.body.user_id).toBe(`@withsession:${server.serverName}`);
      const whoami = await call("GET", "/account/whoami", { token: reply.body.access_token as string });
      expect(whoami.body).toEqual({ user_id: reply.body.user_id, device_id: reply.body.device_id });
    });
    it("registers with a stage submitted without a session", async () => {
      const reply = await register({ username: "nosession", password: PASSWORD });
      expect(reply.status).toBe(200);
    });
    it("keeps the requested device_id and initial_device_display_name", async () => {
      const reply = await register({
        username: "withdevice",
        password: PASSWORD,
        device_id: "MYPHONE",
        initial_device_display_name: "Jungle Phone",
      });
      expect(reply.body.device_id).toBe("MYPHONE");
      const device = await call("GET", "/devices/MYPHONE", { token: reply.body.access_token as string });
      expect(device.body).toMatchObject({ device_id: "MYPHONE", display_name: "Jungle Phone" });
    });
    it("creates the account without a session when inhibit_login is true", async () => {
      const reply = await register({ username: "inhibited", password: PASSWORD, inhibit_login: true });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("registration.yaml", "/register", "post", 200, reply.body);
      expect(reply.body).toEqual({ user_id: `@inhibited:${server.serverName}` });
      expect(
        (await login({ identifier: { type: "m.id.user", user: "inhibited" }, password: PASSWORD })).status,
      ).toBe(200);
    });
    it("generates a valid user ID when no username is given", async () => {
      const reply = await register({ password: PASSWORD });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("registration.yaml", "/register", "post", 200, reply.body);
      expect(reply.body.user_id).toMatch(new RegExp(`^@[a-z0-9]+:${server.serverName}$`));
    });
    it("refuses a taken username with M_USER_IN_USE, before UIA", async () => {
      await registerUser(server.url, "taken");
      const reply = await call("POST", "/register", { body: { username: "taken", password: PASSWORD } });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_USER_IN_USE"]);
    });
    for (const username of ["Alice", "al ice", "al:ice", "al@ice", "é", "a".repeat(250)]) {
      it(`refuses the username ${JSON.stringify(username.slice(0, 12))} with M_INVALID_USERNAME`, async () => {
        const reply = await register({ username, password: PASSWORD });
        expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_USERNAME"]);
      });
    }
    it("accepts every character of the user ID grammar", async () => {
      const reply = await register({ username: "a.b_c=d-e/f+g9", password: PASSWORD });
      expect(reply.body.user_id).toBe(`@a.b_c=d-e/f+g9:${server.serverName}`);
    });
    it("requires a password with M_MISSING_PARAM and creates nothing", async () => {
      const reply = await register({ username: "nopassword" });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
      expect(await isAvailable("nopassword")).toBe(true);
    });
    it("refuses an empty password with M_WEAK_PASSWORD", async () => {
      const reply = await register({ username: "emptypassword", password: "" });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_WEAK_PASSWORD"]);
    });
    for (const [field, value] of [
      ["password", 5],
      ["username", ["x"]],
      ["device_id", 7],
      ["inhibit_login", "yes"],
      ["auth", "m.login.dummy"],
    ] as const) {
      it(`refuses ${field} of the wrong type with M_BAD_JSON and creates nothing`, async () => {
        const reply = await register({
          username: `badjson${field.length}`,
          password: PASSWORD,
          [field]: value,
        });
        expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
        expect(await isAvailable(`badjson${field.length}`)).toBe(true);
      });
    }
    it("refuses a body that is not an object with M_BAD_JSON", async () => {
      const reply = await call("POST", "/register", { body: ["alice"] });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("refuses guest accounts with M_GUEST_ACCESS_FORBIDDEN", async () => {
      const reply = await register({ password: PASSWORD }, "?kind=guest");
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_GUEST_ACCESS_FORBIDDEN"]);
    });
    it("refuses an unknown session with a 401 that offers a new one, and creates nothing", async () => {
      const reply = await register({
        username: "stalesession",
        password: PASSWORD,
        auth: { type: "m.login.dummy", session: "no-such-session" },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNKNOWN"]);
      await expectMatchesSpec("registration.yaml", "/register", "post", 401, reply.body);
      expect(reply.body.session).not.toBe("no-such-session");
      expect(await isAvailable("stalesession")).toBe(true);
    });
    it("refuses a stage type that is not offered, and creates nothing", async () => {
      const reply = await register({
        username: "wrongstage",
        password: PASSWORD,
        auth: { type: "m.login.password" },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNRECOGNIZED"]);
      expect(await isAvailable("wrongstage")).toBe(true);
    });
    it("accepts the legacy r0 prefix", async () => {
      const reply = await request(server.url, "POST", "/_matrix/client/r0/register", {
        body: { username: "legacyprefix", password: PASSWORD, auth: { type: "m.login.dummy" } },
      });
      expect(reply.status).toBe(200);
    });
  });

  describe("GET /register/available", () => {
    it("says a free name is available", async () => {
      const reply = await call("GET", "/register/available?username=freename");
      expect(reply.status).toBe(200);
      await expectMatchesSpec("registration.yaml", "/register/available", "get", 200, reply.body);
      expect(reply.body).toEqual({ available: true });
    });
    it("answers M_USER_IN_USE for a taken name", async () => {
      await registerUser(server.url, "takenname");
      const reply = await call("GET", "/register/available?username=takenname");
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_USER_IN_USE"]);
    });
    it("answers M_INVALID_USERNAME for a name outside the grammar", async () => {
      const reply = await call("GET", "/register/available?username=Upper");
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_USERNAME"]);
    });
    it("requires the username parameter", async () => {
      const reply = await call("GET", "/register/available");
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    });
  });

  describe("login", () => {
    let userId: string;
    beforeAll(async () => {
      userId = (await registerUser(server.url, "logan", PASSWORD)).userId;
    });

    it("offers m.login.password", async () => {
      const reply = await call("GET", "/login");
      await expectMatchesSpec("login.yaml", "/login", "get", 200, reply.body);
      expect(reply.body).toEqual({ flows: [{ type: "m.login.password" }] });
    });
    for (const [how, body] of [
      ["an m.id.user identifier with the localpart", { identifier: { type: "m.id.user", user: "logan" } }],
      [
        "an m.id.user identifier with the full user ID",
        { identifier: { type: "m.id.user", user: "@logan:SERVER" } },
      ],
      ["the legacy user field", { user: "logan" }],
      ["the localpart in another case", { identifier: { type: "m.id.user", user: "LOGAN" } }],
    ] as const) {
      it(`logs in with ${how}`, async () => {
        const named = JSON.parse(JSON.stringify(body).replace("SERVER", server.serverName)) as Record<
          string,
          unknown
        >;
        const reply = await login({ ...named, password: PASSWORD });
        expect(reply.status).toBe(200);
        await expectMatchesSpec("login.yaml", "/login", "post", 200, reply.body);
        expect(reply.body.user_id).toBe(userId);
        const whoami = await call("GET", "/account/whoami", { token: reply.body.access_token as string });
        expect(whoami.body.device_id).toBe(reply.body.device_id);
      });
    }
    it("reuses a known device_id instead of adding a device", async () => {
      const first = await login({
        user: "logan",
        password: PASSWORD,
        device_id: "LAPTOP",
        initial_device_display_name: "one",
      });
      const second = await login({
        user: "logan",
        password: PASSWORD,
        device_id: "LAPTOP",
        initial_device_display_name: "two",
      });
      expect([first.body.device_id, second.body.device_id]).toEqual(["LAPTOP", "LAPTOP"]);
      const devices = await call("GET", "/devices", { token: second.body.access_token as string });
      const laptops = (devices.body.devices as Array<{ device_id: string; display_name?: string }>).filter(
        (device) => device.device_id === "LAPTOP",
      );
      expect(laptops).toEqual([expect.objectContaining({ display_name: "one" })]);
    });
    it("refuses a wrong password with 403 M_FORBIDDEN", async () => {
      const reply = await login({ user: "logan", password: "wrong" });
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    it("answers an unknown user exactly as a wrong password", async () => {
      const wrong = await login({ user: "logan", password: "wrong" });
      const unknown = await login({ user: "nobody", password: "wrong" });
      expect([unknown.status, unknown.body]).toEqual([wrong.status, wrong.body]);
    });
    it("refuses a user of another server with M_FORBIDDEN", async () => {
      const reply = await login({
        identifier: { type: "m.id.user", user: "@logan:elsewhere.example" },
        password: PASSWORD,
      });
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    it("refuses an unsupported login type with M_UNKNOWN", async () => {
      const reply = await call("POST", "/login", { body: { type: "m.login.token", token: "x" } });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_UNKNOWN"]);
    });
    it("refuses an unsupported identifier type with M_UNKNOWN", async () => {
      const reply = await login({
        identifier: { type: "m.id.thirdparty", medium: "email", address: "a@b.c" },
        password: PASSWORD,
      });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_UNKNOWN"]);
    });
    for (const [what, body, errcode] of [
      ["type", { user: "logan", password: PASSWORD }, "M_MISSING_PARAM"],
      ["password", { type: "m.login.password", user: "logan" }, "M_MISSING_PARAM"],
      ["identifier", { type: "m.login.password", password: PASSWORD }, "M_MISSING_PARAM"],
      [
        "identifier.user",
        { type: "m.login.password", identifier: { type: "m.id.user" }, password: PASSWORD },
        "M_MISSING_PARAM",
      ],
      ["a non-string password", { type: "m.login.password", user: "logan", password: 1 }, "M_BAD_JSON"],
      [
        "a non-object identifier",
        { type: "m.login.password", identifier: "logan", password: PASSWORD },
        "M_BAD_JSON",
      ],
    ] as const) {
      it(`refuses a login without ${what} with ${errcode}`, async () => {
        const reply = await call("POST", "/login", { body });
        expect([reply.status, reply.body.errcode]).toEqual([400, errcode]);
      });
    }
  });

  describe("whoami and logout", () => {
    it("whoami names the user and device of the token", async () => {
      const user = await registerUser(server.url, "whoami");
      const reply = await call("GET", "/account/whoami", { token: user.token });
      await expectMatchesSpec("whoami.yaml", "/account/whoami", "get", 200, reply.body);
      expect(reply.body).toEqual({ user_id: user.userId, device_id: user.deviceId });
    });
    it("logout revokes the token and deletes its device, and only that one", async () => {
      const user = await registerUser(server.url, "leaver", PASSWORD);
      const other = await login({ user: "leaver", password: PASSWORD });
      const reply = await call("POST", "/logout", { token: user.token });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("logout.yaml", "/logout", "post", 200, reply.body);
      const after = await call("GET", "/account/whoami", { token: user.token });
      expect([after.status, after.body.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
      const devices = await call("GET", "/devices", { token: other.body.access_token as string });
      expect((devices.body.devices as Array<{ device_id: string }>).map((d) => d.device_id)).toEqual([
        other.body.device_id,
      ]);
    });
    it("logout/all revokes every token of the user and no one else's", async () => {
      const user = await registerUser(server.url, "leaveall", PASSWORD);
      const second = await login({ user: "leaveall", password: PASSWORD });
      const bystander = await registerUser(server.url, "bystander");
      const reply = await call("POST", "/logout/all", { token: user.token });
      await expectMatchesSpec("logout.yaml", "/logout/all", "post", 200, reply.body);
      for (const token of [user.token, second.body.access_token as string]) {
        expect((await call("GET", "/account/whoami", { token })).status).toBe(401);
      }
      expect((await call("GET", "/account/whoami", { token: bystander.token })).status).toBe(200);
      const again = await login({ user: "leaveall", password: PASSWORD });
      const devices = await call("GET", "/devices", { token: again.body.access_token as string });
      expect(devices.body.devices).toHaveLength(1);
    });
    it("logout needs a token", async () => {
      const reply = await call("POST", "/logout");
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    });
  });

  describe("secrets", () => {
    it("stores a scrypt hash, never the password itself", async () => {
      const password = `canary-${randomBytes(12).toString("hex")}`;
      await registerUser(server.url, "canary", password);
      const stored = await storedText(server);
      expect(stored).toContain("scrypt$");
      expect(stored).not.toContain(password);
    });
    it("stores no access token in plain text", async () => {
      const user = await registerUser(server.url, "tokencanary");
      expect(await storedText(server)).not.toContain(user.token);
    });
    it("logs neither passwords nor access tokens", async () => {
      const password = `logcanary-${randomBytes(12).toString("hex")}`;
      const user = await registerUser(server.url, "logcanary", password);
      await login({ user: "logcanary", password: "wrong-" + password });
      await call("GET", "/account/whoami", { token: user.token });
      expect(server.logs()).not.toContain(password);
      expect(server.logs()).not.toContain(user.token);
    });
  });
});
