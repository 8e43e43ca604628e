// Issue 9, defect 7: blind SSRF. An X-Matrix header naming `origin=127.0.0.2:PORT` made the
// server connect there to fetch keys. Outbound federation now refuses private, loopback and
// link-local addresses (checked on the address a name resolves to) unless the name is pinned or
// the configuration allows them, and key fetches for servers never seen are limited overall.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeSigner } from "../../../src/platform/nodeCrypto.js";
import { loadConfig } from "../../../src/server/config.js";
import {
  isPrivateAddress,
  privateAddressCheck,
} from "../../../src/server/federation/transport/addressPolicy.js";
import { createServerResolver } from "../../../src/server/federation/transport/discovery.js";
import { createFederationClient } from "../../../src/server/federation/transport/federationClient.js";
import { createHttpTransport } from "../../../src/server/federation/transport/httpTransport.js";
import { FederationRequestError } from "../../../src/server/federationTypes.js";
import { startTestPeer, waitForLog, waitForLogSaying, type TestPeer } from "../../helpers/hostilePeer.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import {
  json,
  pinsEnv,
  signedRequest,
  startHttpServer,
  transaction,
  type LocalHttpServer,
} from "./federationPeer.js";

/** A TCP listener that counts the connections made to it. */
interface CountingListener {
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}

async function countingListener(host: string): Promise<CountingListener> {
  let count = 0;
  const server: Server = createServer((socket) => {
    count++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : 0,
    connections: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const stranger = nodeSigner("ed25519:a", new Uint8Array(32).fill(7));

/** A /send from `origin`, signed with a key the server cannot know: it must look the key up. */
function sendAs(server: ServerProcess, origin: string) {
  return signedRequest(server.url, "PUT", `/_matrix/federation/v1/send/${encodeURIComponent(origin)}`, {
    origin,
    destination: server.serverName,
    signer: stranger,
    body: transaction(origin),
  });
}

describe("private addresses", () => {
  it("are the private, loopback, link-local and reserved ranges, IPv4-mapped ones included", () => {
    const blocked = [
      "0.0.0.0",
      "0.1.2.3",
      "10.0.0.1",
      "100.64.0.1",
      "100.127.255.255",
      "127.0.0.1",
      "127.0.0.2",
      "169.254.169.254",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "::",
      "::1",
      "[::1]",
      "fc00::1",
      "fd12:3456::1",
      "fe80::1",
      "::ffff:127.0.0.1",
      "::ffff:7f00:2",
      "::ffff:10.1.2.3",
      "::ffff:a9fe:a9fe",
    ];
    const allowed = [
      "8.8.8.8",
      "172.32.0.1",
      "100.128.0.1",
      "192.169.0.1",
      "2001:4860::8888",
      "::ffff:8.8.8.8",
    ];
    expect(blocked.filter((address) => !isPrivateAddress(address))).toEqual([]);
    expect(allowed.filter(isPrivateAddress)).toEqual([]);
  });

  it("are allowed one network at a time by an allowlist, or all at once", () => {
    const check = privateAddressCheck({ allowlist: ["127.0.0.2/32", "fd00::/8"] });
    expect([check("127.0.0.2"), check("::ffff:127.0.0.2"), check("fd00::5")]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(check("127.0.0.3")?.message).toMatch(/refusing to connect to 127\.0\.0\.3/);
    expect(privateAddressCheck({ allow: true })("10.0.0.1")).toBeUndefined();
    expect(privateAddressCheck()("8.8.8.8")).toBeUndefined();
  });

  it("are configured by federation.allow_private_addresses and private_address_allowlist", () => {
    const config = loadConfig({
      env: {
        MYELIN_FEDERATION_ALLOW_PRIVATE_ADDRESSES: "true",
        MYELIN_FEDERATION_PRIVATE_ADDRESS_ALLOWLIST: "10.1.0.0/16, fd00::/8",
      },
    });
    expect(config.federation.allowPrivateAddresses).toBe(true);
    expect(config.federation.privateAddressAllowlist).toEqual(["10.1.0.0/16", "fd00::/8"]);
    expect(loadConfig({ env: {} }).federation.allowPrivateAddresses).toBe(false);
    expect(() => loadConfig({ env: { MYELIN_FEDERATION_PRIVATE_ADDRESS_ALLOWLIST: "10.1.0.0" } })).toThrow(
      /CIDR/,
    );
    expect(() => loadConfig({ env: { MYELIN_FEDERATION_ALLOW_PRIVATE_ADDRESSES: "yes" } })).toThrow(
      /true or false/,
    );
  });
});

describe("the federation client and a private address", () => {
  let target: CountingListener;
  const transport = createHttpTransport({ allowPlainHttp: "loopback" });
  beforeAll(async () => {
    target = await countingListener("127.0.0.2");
  });
  afterAll(async () => {
    transport.close();
    await target.close();
  });

  it("refuses to send a request to a server name that is a private address, without connecting", async () => {
    const client = createFederationClient({
      serverName: "me.test",
      signer: stranger,
      transport,
      resolver: createServerResolver({
        pins: {},
        wellKnown: async () => undefined,
        clock: { now: () => Date.now() },
        resolveSrv: async () => [],
      }),
      defaultTimeoutMs: 1_000,
    });
    const error = await client
      .request(`127.0.0.2:${target.port}`, "PUT", "/_matrix/federation/v1/send/1", { body: {} })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FederationRequestError);
    expect((error as FederationRequestError).errcode).toBe("MYELIN_PRIVATE_ADDRESS_REFUSED");
    await pause(100);
    expect(target.connections()).toBe(0);
  });
});

describe("a server asked by strangers to fetch keys from private addresses", () => {
  let server: ServerProcess;
  let allowing: ServerProcess;
  let peer: TestPeer;
  let literal: CountingListener;
  let named: CountingListener;

  beforeAll(async () => {
    [peer, literal, named] = await Promise.all([
      startTestPeer(),
      countingListener("127.0.0.2"),
      countingListener("127.0.0.1"),
    ]);
    [server, allowing] = await Promise.all([
      startServerProcess({
        env: { MYELIN_FEDERATION_PINS: pinsEnv([{ serverName: peer.serverName, port: peer.port }]) },
      }),
      startServerProcess({ env: { MYELIN_FEDERATION_PRIVATE_ADDRESS_ALLOWLIST: "127.0.0.2/32" } }),
    ]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([server?.destroy(), allowing?.destroy()]);
    await Promise.all([peer?.close(), literal?.close(), named?.close()]);
  });

  it("makes no connection to an origin that is a private address literal, refuses it and logs why", async () => {
    const reply = await sendAs(server, `127.0.0.2:${literal.port}`);
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    expect(await waitForLogSaying(server, "refusing to connect to 127.0.0.2")).toBeDefined();
    expect(literal.connections()).toBe(0);
  });

  it("makes no connection to an origin whose name resolves to a loopback address", async () => {
    const origin = `localhost:${named.port}`;
    expect((await sendAs(server, origin)).status).toBe(401);
    const refused = await waitForLog(
      server,
      (entry) => entry.server === origin && JSON.stringify(entry).includes("refusing to connect to"),
    );
    expect(refused, "a log entry saying the key fetch was refused").toBeDefined();
    await pause(200);
    expect(named.connections()).toBe(0);
  });

  it("connects there when federation.private_address_allowlist allows it (the listener counts)", async () => {
    expect((await sendAs(allowing, `127.0.0.2:${literal.port}`)).status).toBe(401);
    expect(literal.connections()).toBeGreaterThan(0);
  });

  it("still federates with a pinned loopback peer", async () => {
    const reply = await peer.send(server, []);
    expect([reply.status, reply.body]).toEqual([200, { pdus: {} }]);
  });
});

describe("key fetches for servers never seen (federation.key_fetch_burst)", () => {
  let server: ServerProcess;
  let keyServer: LocalHttpServer;
  const origins = Array.from({ length: 8 }, (_, i) => `made-up-${i}.test`);

  beforeAll(async () => {
    keyServer = await startHttpServer((_request, _body, response) =>
      json(response, 404, { errcode: "M_NOT_FOUND", error: "no keys here" }),
    );
    server = await startServerProcess({
      env: {
        // Every made-up name leads to the recording server, so each fetch is counted.
        MYELIN_FEDERATION_PINS: origins.map((origin) => `${origin}=${keyServer.url}`).join(","),
        MYELIN_FEDERATION_KEY_FETCHES_PER_SECOND: "1",
        MYELIN_FEDERATION_KEY_FETCH_BURST: "2",
      },
    });
  }, 30_000);
  afterAll(async () => {
    await server?.destroy();
    await keyServer?.close();
  });

  it("fetches the keys of only a burst of new origins, however many strangers name", async () => {
    for (const origin of origins) expect((await sendAs(server, origin)).status).toBe(401);
    // Two from the burst, at most one more from the refill while the requests ran.
    expect(keyServer.requests.length).toBeGreaterThanOrEqual(2);
    expect(keyServer.requests.length).toBeLessThanOrEqual(3);
    expect(await waitForLogSaying(server, "too many new servers")).toBeDefined();
  });
});
