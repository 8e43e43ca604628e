// matrix-js-sdk 37.5 as an independent client of the accounts area: registration and device
// deletion through its InteractiveAuth (UIA as Element drives it), login, whoami, devices,
// profile, filters and push rules, then startClient until the PREPARED sync state.
import {
  ClientEvent,
  InteractiveAuth,
  SyncState,
  createClient,
  type AuthDict,
  type MatrixClient,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";

const PASSWORD = "correct horse battery";

// The SDK logs every request and sync step at info level; its logger is a loglevel instance,
// whose setLevel its type does not declare.
(logger as unknown as { setLevel(level: string): void }).setLevel("warn");

describe("matrix-js-sdk 37.5 against the homeserver", () => {
  let server: ServerProcess;
  let client: MatrixClient;
  let userId: string;
  const clients: MatrixClient[] = [];

  function authed(login: { user_id: string; access_token: string; device_id: string }): MatrixClient {
    const created = createClient({
      baseUrl: server.url,
      userId: login.user_id,
      accessToken: login.access_token,
      deviceId: login.device_id,
    });
    clients.push(created);
    return created;
  }

  beforeAll(async () => {
    server = await startServerProcess({ backend: "sqlite" });
    const anonymous = createClient({ baseUrl: server.url });
    // Registration as a client does it: the first request asks for the flows, the SDK picks the
    // m.login.dummy flow and completes it on its own.
    const registration = new InteractiveAuth({
      matrixClient: anonymous,
      doRequest: (auth: AuthDict | null) =>
        anonymous.registerRequest({ username: "sdkuser", password: PASSWORD, auth: auth ?? undefined }),
      stateUpdated: () => undefined,
      requestEmailToken: () => Promise.reject(new Error("no e-mail stage is offered")),
    });
    const registered = await registration.attemptAuth();
    userId = registered.user_id;
    client = authed({
      user_id: registered.user_id,
      access_token: registered.access_token as string,
      device_id: registered.device_id as string,
    });
  });
  afterAll(async () => {
    for (const c of clients) c.stopClient();
    const t0 = Date.now();
    await server.destroy();
    console.log("destroy took", Date.now() - t0, server.logs().split("\n").slice(-6).join("\n"));
  });

  it("registers through InteractiveAuth and gets a session that whoami recognises", async () => {
    expect(userId).toBe(`@sdkuser:${server.serverName}`);
    expect((await client.whoami()).user_id).toBe(userId);
  });
  it("sees a taken and a free username", async () => {
    expect(await client.isUsernameAvailable("sdkuser")).toBe(false);
    expect(await client.isUsernameAvailable("sdkfree")).toBe(true);
  });
  it("logs in with a password and gets a second device", async () => {
    const flows = await client.loginFlows();
    expect(flows.flows.map((flow) => flow.type)).toEqual(["m.login.password"]);
    const login = await createClient({ baseUrl: server.url }).loginRequest({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: "sdkuser" },
      password: PASSWORD,
      initial_device_display_name: "SDK laptop",
    });
    const laptop = authed(login);
    expect((await laptop.whoami()).device_id).toBe(login.device_id);
    const { devices } = await client.getDevices();
    expect(devices).toContainEqual(
      expect.objectContaining({ device_id: login.device_id, display_name: "SDK laptop" }),
    );
  });
  it("renames a device", async () => {
    const deviceId = client.getDeviceId() as string;
    await client.setDeviceDetails(deviceId, { display_name: "SDK phone" });
    expect((await client.getDevice(deviceId)).display_name).toBe("SDK phone");
  });
  it("deletes a device through InteractiveAuth with the password, which ends its session", async () => {
    const login = await createClient({ baseUrl: server.url }).loginWithPassword("sdkuser", PASSWORD);
    const doomed = authed(login);
    const deletion: InteractiveAuth<unknown> = new InteractiveAuth({
      matrixClient: client,
      doRequest: (auth: AuthDict | null) => client.deleteDevice(login.device_id, auth ?? undefined),
      stateUpdated: (stage) => {
        if (stage === "m.login.password") {
          void deletion.submitAuthDict({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: userId },
            password: PASSWORD,
          });
        }
      },
      requestEmailToken: () => Promise.reject(new Error("no e-mail stage is offered")),
    });
    await deletion.attemptAuth();
    const { devices } = await client.getDevices();
    expect(devices.map((device) => device.device_id)).not.toContain(login.device_id);
    await expect(doomed.whoami()).rejects.toMatchObject({ errcode: "M_UNKNOWN_TOKEN" });
  });
  it("sets and reads the profile", async () => {
    await client.setDisplayName("SDK User");
    await client.setAvatarUrl(`mxc://${server.serverName}/avatar1`);
    expect(await client.getProfileInfo(userId)).toEqual({
      displayname: "SDK User",
      avatar_url: `mxc://${server.serverName}/avatar1`,
    });
  });
  it("stores a filter and reads it back", async () => {
    const filter = await client.createFilter({ room: { timeline: { limit: 5 } } });
    const stored = await client.getFilter(userId, filter.filterId as string, false);
    expect(stored.getDefinition()).toEqual({ room: { timeline: { limit: 5 } } });
  });
  it("reads the push rules", async () => {
    const rules = await client.getPushRules();
    expect(rules.global.override?.[0]?.rule_id).toBe(".m.rule.master");
  });
  it("starts syncing and reaches the PREPARED state", async () => {
    const prepared = new Promise<void>((resolve, reject) => {
      client.on(ClientEvent.Sync, (state: SyncState, _previous: SyncState | null, data) => {
        if (state === SyncState.Prepared) resolve();
        if (state === SyncState.Error) reject(data?.error ?? new Error("sync error"));
      });
    });
    await client.startClient({ initialSyncLimit: 5 });
    await expect(prepared).resolves.toBeUndefined();
  });
  it("logs out, after which the token is refused", async () => {
    const login = await createClient({ baseUrl: server.url }).loginWithPassword("sdkuser", PASSWORD);
    const leaving = authed(login);
    await leaving.logout(true);
    await expect(leaving.whoami()).rejects.toMatchObject({ errcode: "M_UNKNOWN_TOKEN" });
  });
});
