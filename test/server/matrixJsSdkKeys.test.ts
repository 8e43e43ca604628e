// matrix-js-sdk 37.5 as an independent client of the keys and to-device areas: two SDK clients
// sync, one sends a to-device message the other receives, and one claims the key package the
// other uploaded (section 9), through the SDK's own HTTP layer.
import {
  ClientEvent,
  Method,
  SyncState,
  createClient,
  type MatrixClient,
  type MatrixEvent,
} from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deviceKeys, MLS_ALGORITHM, newKeyPackage, newMlsDevice } from "../helpers/keyPackages.js";
import { startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser } from "../helpers/users.js";

(logger as unknown as { setLevel(level: string): void }).setLevel("warn");

async function syncingClient(server: ServerProcess, localpart: string): Promise<MatrixClient> {
  const user = await registerUser(server.url, localpart);
  const client = createClient({
    baseUrl: server.url,
    userId: user.userId,
    accessToken: user.token,
    deviceId: user.deviceId,
  });
  const prepared = new Promise<void>((resolve) => {
    client.on(ClientEvent.Sync, (state: SyncState) => {
      if (state === SyncState.Prepared) resolve();
    });
  });
  await client.startClient({ initialSyncLimit: 1 });
  await prepared;
  return client;
}

describe("matrix-js-sdk 37.5 with keys and to-device messages", () => {
  let server: ServerProcess;
  let alice: MatrixClient;
  let bob: MatrixClient;

  beforeAll(async () => {
    server = await startServerProcess({ backend: "sqlite" });
    alice = await syncingClient(server, "sdkalice");
    bob = await syncingClient(server, "sdkbob");
  }, 30_000);

  afterAll(async () => {
    alice?.stopClient();
    bob?.stopClient();
    await server.destroy();
  });

  it("delivers a to-device message from one SDK client to the other", async () => {
    const received = new Promise<MatrixEvent>((resolve) => {
      bob.on(ClientEvent.ToDeviceEvent, (event: MatrixEvent) => {
        if (event.getType() === "org.example.ping") resolve(event);
      });
    });
    const content = new Map([
      [bob.getUserId() as string, new Map([[bob.getDeviceId() as string, { n: 1 }]])],
    ]);
    await alice.sendToDevice("org.example.ping", content);
    const event = await received;
    expect([event.getSender(), event.getContent()]).toEqual([alice.getUserId(), { n: 1 }]);
  });

  it("lets one SDK client claim the key package the other uploaded", async () => {
    const device = newMlsDevice(bob.getUserId() as string, bob.getDeviceId() as string);
    const keyPackage = await newKeyPackage(device);
    await bob.http.authedRequest(Method.Post, "/keys/upload", undefined, {
      device_keys: deviceKeys(device),
      one_time_keys: { [keyPackage.keyId]: keyPackage.value },
    });
    const claim = await alice.http.authedRequest<{
      one_time_keys: Record<string, Record<string, Record<string, string>>>;
    }>(Method.Post, "/keys/claim", undefined, {
      one_time_keys: { [bob.getUserId() as string]: { [bob.getDeviceId() as string]: MLS_ALGORITHM } },
    });
    expect(claim.one_time_keys[bob.getUserId() as string]?.[bob.getDeviceId() as string]).toEqual({
      [keyPackage.keyId]: keyPackage.value,
    });
  });

  it("shows the SDK the uploaded device keys through /keys/query", async () => {
    const query = await alice.http.authedRequest<{
      device_keys: Record<string, Record<string, { device_id: string }>>;
    }>(Method.Post, "/keys/query", undefined, { device_keys: { [bob.getUserId() as string]: [] } });
    expect(Object.keys(query.device_keys[bob.getUserId() as string] ?? {})).toEqual([bob.getDeviceId()]);
  });
});
