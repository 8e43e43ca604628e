// Device management: listing, renaming, last-seen, and deletion behind User-Interactive Auth with
// the account password; on both storage backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { expectMatchesSpec } from "../helpers/specSchema.js";
import { deviceKeys, newMlsDevice } from "../helpers/keyPackages.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const PASSWORD = "correct horse battery";

describe.each(BACKENDS)("devices on %s", (backend) => {
  let server: ServerProcess;
  let otherUser: TestUser;
  const call = (method: string, path: string, options: { token?: string; body?: unknown } = {}) =>
    request(server.url, method, `/_matrix/client/v3${path}`, options);

  /** A fresh user with a second device; returns both devices' sessions. */
  async function userWithTwoDevices(localpart: string): Promise<{ first: TestUser; second: TestUser }> {
    const first = await registerUser(server.url, localpart, PASSWORD);
    const login = await call("POST", "/login", {
      body: {
        type: "m.login.password",
        user: localpart,
        password: PASSWORD,
        initial_device_display_name: "second",
      },
    });
    const second = {
      userId: first.userId,
      token: login.body.access_token as string,
      deviceId: login.body.device_id as string,
    };
    return { first, second };
  }
  const passwordAuth = (userId: string, password = PASSWORD, session?: string) => ({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: userId },
    password,
    ...(session !== undefined && { session }),
  });
  const deviceIds = async (user: TestUser) =>
    ((await call("GET", "/devices", { token: user.token })).body.devices as Array<{ device_id: string }>).map(
      (device) => device.device_id,
    );

  /** Uploads MLS device keys for the device; returns a function listing the user's devices with keys. */
  async function withKeys(user: TestUser): Promise<() => Promise<string[]>> {
    const upload = await call("POST", "/keys/upload", {
      token: user.token,
      body: { device_keys: deviceKeys(newMlsDevice(user.userId, user.deviceId)) },
    });
    expect(upload.status).toBe(200);
    return async () => {
      const query = await call("POST", "/keys/query", {
        token: otherUser.token,
        body: { device_keys: { [user.userId]: [] } },
      });
      return Object.keys((query.body.device_keys as Record<string, object>)[user.userId] ?? {});
    };
  }

  beforeAll(async () => {
    server = await startServerProcess({ backend });
    otherUser = await registerUser(server.url, "other");
  });
  afterAll(async () => {
    await server.destroy();
  });

  describe("reading and renaming", () => {
    it("lists the user's devices with their display names", async () => {
      const { first, second } = await userWithTwoDevices("lister");
      const reply = await call("GET", "/devices", { token: first.token });
      await expectMatchesSpec("device_management.yaml", "/devices", "get", 200, reply.body);
      expect(await deviceIds(first)).toEqual([first.deviceId, second.deviceId].sort());
      expect(reply.body.devices).toContainEqual(
        expect.objectContaining({ device_id: second.deviceId, display_name: "second" }),
      );
    });
    it("shows one device", async () => {
      const { first, second } = await userWithTwoDevices("shower");
      const reply = await call("GET", `/devices/${second.deviceId}`, { token: first.token });
      await expectMatchesSpec("device_management.yaml", "/devices/{deviceId}", "get", 200, reply.body);
      expect(reply.body).toMatchObject({ device_id: second.deviceId, display_name: "second" });
    });
    it("records when and from where a device was last seen, on requests to any endpoint", async () => {
      // The second device watches the first, so that watching touches only the second.
      const { first, second } = await userWithTwoDevices("seen");
      const watch = async () =>
        (await call("GET", `/devices/${first.deviceId}`, { token: second.token })).body;
      const registered = await watch();
      await call("GET", "/capabilities", { token: first.token });
      await expect
        .poll(async () => (await watch()).last_seen_ts)
        .toBeGreaterThan(registered.last_seen_ts as number);
      expect((await watch()).last_seen_ip).toBe("127.0.0.1");
    });
    it("answers 404 M_NOT_FOUND for an unknown device", async () => {
      const reply = await call("GET", "/devices/NOSUCHDEVICE", { token: otherUser.token });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    });
    it("does not show another user's device", async () => {
      const user = await registerUser(server.url, "private");
      const reply = await call("GET", `/devices/${user.deviceId}`, { token: otherUser.token });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    });
    it("renames a device", async () => {
      const user = await registerUser(server.url, "renamer");
      const reply = await call("PUT", `/devices/${user.deviceId}`, {
        token: user.token,
        body: { display_name: "Work laptop" },
      });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("device_management.yaml", "/devices/{deviceId}", "put", 200, reply.body);
      const device = await call("GET", `/devices/${user.deviceId}`, { token: user.token });
      expect(device.body.display_name).toBe("Work laptop");
    });
    it("refuses to rename an unknown device with 404 M_NOT_FOUND, creating nothing", async () => {
      const user = await registerUser(server.url, "nocreate");
      const reply = await call("PUT", "/devices/NEWDEVICE", {
        token: user.token,
        body: { display_name: "x" },
      });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
      expect(await deviceIds(user)).toEqual([user.deviceId]);
    });
    it("refuses a display_name that is not a string with M_BAD_JSON", async () => {
      const user = await registerUser(server.url, "badname");
      const reply = await call("PUT", `/devices/${user.deviceId}`, {
        token: user.token,
        body: { display_name: 5 },
      });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("needs an access token", async () => {
      const reply = await call("GET", "/devices");
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    });
  });

  describe("DELETE /devices/{deviceId}", () => {
    it("asks for the password first (401 with the m.login.password flow) and deletes nothing", async () => {
      const { first, second } = await userWithTwoDevices("asked");
      const reply = await call("DELETE", `/devices/${second.deviceId}`, { token: first.token, body: {} });
      expect(reply.status).toBe(401);
      await expectMatchesSpec("device_management.yaml", "/devices/{deviceId}", "delete", 401, reply.body);
      expect(reply.body.flows).toEqual([{ stages: ["m.login.password"] }]);
      expect(await deviceIds(first)).toContain(second.deviceId);
    });
    it("refuses a wrong password with 401 M_FORBIDDEN; the device and its token stay", async () => {
      const { first, second } = await userWithTwoDevices("wrongpw");
      const challenge = await call("DELETE", `/devices/${second.deviceId}`, { token: first.token, body: {} });
      const reply = await call("DELETE", `/devices/${second.deviceId}`, {
        token: first.token,
        body: { auth: passwordAuth(first.userId, "not it", challenge.body.session as string) },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_FORBIDDEN"]);
      await expectMatchesSpec("device_management.yaml", "/devices/{deviceId}", "delete", 401, reply.body);
      expect(await deviceIds(first)).toContain(second.deviceId);
      expect((await call("GET", "/account/whoami", { token: second.token })).status).toBe(200);
    });
    it("deletes the device and revokes its token with the right password", async () => {
      const { first, second } = await userWithTwoDevices("deleter");
      const challenge = await call("DELETE", `/devices/${second.deviceId}`, { token: first.token, body: {} });
      const reply = await call("DELETE", `/devices/${second.deviceId}`, {
        token: first.token,
        body: { auth: passwordAuth(first.userId, PASSWORD, challenge.body.session as string) },
      });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("device_management.yaml", "/devices/{deviceId}", "delete", 200, reply.body);
      expect(await deviceIds(first)).toEqual([first.deviceId]);
      const revoked = await call("GET", "/account/whoami", { token: second.token });
      expect([revoked.status, revoked.body.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
    });
    it("removes the deleted device's keys", async () => {
      const { first, second } = await userWithTwoDevices("keyholder");
      const devicesWithKeys = await withKeys(second);
      expect(await devicesWithKeys()).toEqual([second.deviceId]);
      await call("DELETE", `/devices/${second.deviceId}`, {
        token: first.token,
        body: { auth: passwordAuth(first.userId) },
      });
      expect(await devicesWithKeys()).toEqual([]);
    });
    it("removes a device's keys at logout", async () => {
      const user = await registerUser(server.url, "keyleaver");
      const devicesWithKeys = await withKeys(user);
      await call("POST", "/logout", { token: user.token });
      expect(await devicesWithKeys()).toEqual([]);
    });
    it("accepts the password stage with the localpart or the legacy user field", async () => {
      const { first, second } = await userWithTwoDevices("legacyauth");
      const reply = await call("DELETE", `/devices/${second.deviceId}`, {
        token: first.token,
        body: { auth: { type: "m.login.password", user: "legacyauth", password: PASSWORD } },
      });
      expect(reply.status).toBe(200);
    });
    it("refuses a password stage that names another user, even with that user's password", async () => {
      const { first, second } = await userWithTwoDevices("impostor");
      const reply = await call("DELETE", `/devices/${second.deviceId}`, {
        token: first.token,
        body: { auth: passwordAuth(otherUser.userId, "correct horse battery") },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_FORBIDDEN"]);
      expect(await deviceIds(first)).toContain(second.deviceId);
    });
    it("refuses a session that was started by another user", async () => {
      const { first, second } = await userWithTwoDevices("sessionthief");
      const foreign = await call("DELETE", `/devices/${otherUser.deviceId}`, {
        token: otherUser.token,
        body: {},
      });
      const reply = await call("DELETE", `/devices/${second.deviceId}`, {
        token: first.token,
        body: { auth: passwordAuth(first.userId, PASSWORD, foreign.body.session as string) },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNKNOWN"]);
      expect(await deviceIds(first)).toContain(second.deviceId);
    });
    it("answers 404 M_NOT_FOUND for a device the user does not have", async () => {
      const user = await registerUser(server.url, "idempotent", PASSWORD);
      const reply = await call("DELETE", "/devices/GONE", {
        token: user.token,
        body: { auth: passwordAuth(user.userId) },
      });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    });
    it("issue 10: answers 404 M_NOT_FOUND for another user's device and leaves that device alone", async () => {
      const user = await registerUser(server.url, "reacher", PASSWORD);
      const devicesWithKeys = await withKeys(otherUser);
      const reply = await call("DELETE", `/devices/${otherUser.deviceId}`, {
        token: user.token,
        body: { auth: passwordAuth(user.userId) },
      });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
      expect((await call("GET", "/account/whoami", { token: otherUser.token })).status).toBe(200);
      expect(await deviceIds(otherUser)).toEqual([otherUser.deviceId]);
      expect(await devicesWithKeys()).toEqual([otherUser.deviceId]);
    });
  });

  describe("POST /delete_devices", () => {
    it("deletes the listed devices only, after the password", async () => {
      const { first, second } = await userWithTwoDevices("bulk");
      const third = await call("POST", "/login", {
        body: { type: "m.login.password", user: "bulk", password: PASSWORD },
      });
      const challenge = await call("POST", "/delete_devices", {
        token: first.token,
        body: { devices: [second.deviceId] },
      });
      expect(challenge.status).toBe(401);
      await expectMatchesSpec("device_management.yaml", "/delete_devices", "post", 401, challenge.body);
      const reply = await call("POST", "/delete_devices", {
        token: first.token,
        body: {
          devices: [second.deviceId, third.body.device_id],
          auth: passwordAuth(first.userId, PASSWORD, challenge.body.session as string),
        },
      });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("device_management.yaml", "/delete_devices", "post", 200, reply.body);
      expect(await deviceIds(first)).toEqual([first.deviceId]);
    });
    it("refuses a wrong password and deletes nothing", async () => {
      const { first, second } = await userWithTwoDevices("bulkwrong");
      const reply = await call("POST", "/delete_devices", {
        token: first.token,
        body: { devices: [second.deviceId], auth: passwordAuth(first.userId, "nope") },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_FORBIDDEN"]);
      expect(await deviceIds(first)).toContain(second.deviceId);
    });
    it("requires the devices list with M_MISSING_PARAM", async () => {
      const reply = await call("POST", "/delete_devices", { token: otherUser.token, body: {} });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    });
    it("refuses a devices list that is not a list of strings with M_BAD_JSON", async () => {
      const reply = await call("POST", "/delete_devices", { token: otherUser.token, body: { devices: [1] } });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
  });
});
