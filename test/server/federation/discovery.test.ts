// Server discovery (server-server API, "Resolving server names") and the plain-HTTP policy:
// pins first, IP literals, explicit ports, .well-known served by a loopback HTTP server (cached,
// redirects limited, timeouts), SRV records through an injected resolver, port 8448 last.
import type { SrvRecord } from "node:dns";
import type { ServerResponse } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { nodeSigner } from "../../../src/platform/nodeCrypto.js";
import {
  createServerResolver,
  type SrvResolver,
} from "../../../src/server/federation/transport/discovery.js";
import { createFederationClient } from "../../../src/server/federation/transport/federationClient.js";
import {
  createHttpTransport,
  type HttpTransport,
} from "../../../src/server/federation/transport/httpTransport.js";
import { isLoopbackAddress } from "../../../src/server/federation/transport/plainHttp.js";
import { createWellKnownLookup } from "../../../src/server/federation/transport/wellKnown.js";
import { FederationRequestError } from "../../../src/server/federationTypes.js";
import type { PlainHttpPolicy } from "../../../src/server/config.js";
import { json, startHttpServer, type LocalHttpServer } from "./federationPeer.js";

const clock = { now: () => Date.now() };
const noWellKnown = async () => undefined;
const noSrv: SrvResolver = async () => [];
const srv = (name: string, port: number, priority = 10, weight = 5): SrvRecord => ({
  name,
  port,
  priority,
  weight,
});

function resolverWith(options: {
  wellKnown?: (host: string) => Promise<string | undefined>;
  srv?: SrvResolver;
}) {
  return createServerResolver({
    pins: {},
    wellKnown: options.wellKnown ?? noWellKnown,
    clock,
    resolveSrv: options.srv ?? noSrv,
  });
}

const transports: HttpTransport[] = [];
// The .well-known server of these tests is on loopback, a private address (privateAddresses.test.ts).
function transport(allowPlainHttp: PlainHttpPolicy = "loopback"): HttpTransport {
  const made = createHttpTransport({ allowPlainHttp, privateAddresses: { allow: true } });
  transports.push(made);
  return made;
}
afterAll(() => transports.forEach((t) => t.close()));

describe("resolving a server name", () => {
  it("uses a pinned base URL before anything else", async () => {
    const resolver = createServerResolver({
      pins: { "example.org": "http://127.0.0.1:8009" },
      wellKnown: () => Promise.reject(new Error("must not be asked")),
      clock,
      resolveSrv: () => Promise.reject(new Error("must not be asked")),
    });
    expect(await resolver.resolve("example.org")).toEqual({
      url: "http://127.0.0.1:8009",
      hostHeader: "127.0.0.1:8009",
      pinned: true,
    });
  });

  it("sends an IPv4 literal without a port to 8448, with the name as Host", async () => {
    expect(await resolverWith({}).resolve("192.0.2.7")).toEqual({
      url: "https://192.0.2.7:8448",
      hostHeader: "192.0.2.7",
    });
  });

  it("keeps the port of an IP literal, IPv6 included", async () => {
    expect(await resolverWith({}).resolve("[2001:db8::1]:8000")).toEqual({
      url: "https://[2001:db8::1]:8000",
      hostHeader: "[2001:db8::1]:8000",
    });
  });

  it("uses a hostname with an explicit port as it is, without .well-known or SRV", async () => {
    const resolver = resolverWith({
      wellKnown: () => Promise.reject(new Error("must not be asked")),
      srv: () => Promise.reject(new Error("must not be asked")),
    });
    expect(await resolver.resolve("matrix.example.org:8443")).toEqual({
      url: "https://matrix.example.org:8443",
      hostHeader: "matrix.example.org:8443",
      tlsServerName: "matrix.example.org",
    });
  });

  it("refuses an invalid server name", async () => {
    await expect(resolverWith({}).resolve("not a name")).rejects.toThrow(/not a valid server name/);
  });

  it("follows a .well-known delegation with a port", async () => {
    const resolver = resolverWith({ wellKnown: async () => "delegated.example.net:4443" });
    expect(await resolver.resolve("example.org")).toEqual({
      url: "https://delegated.example.net:4443",
      hostHeader: "delegated.example.net:4443",
      tlsServerName: "delegated.example.net",
    });
  });

  it("looks up _matrix-fed._tcp of a delegated name without a port; the certificate is the delegated name's", async () => {
    const asked: string[] = [];
    const resolver = resolverWith({
      wellKnown: async () => "delegated.example.net",
      srv: async (name) => {
        asked.push(name);
        return name === "_matrix-fed._tcp.delegated.example.net" ? [srv("host9.example.net", 9448)] : [];
      },
    });
    expect(await resolver.resolve("example.org")).toEqual({
      url: "https://host9.example.net:9448",
      hostHeader: "delegated.example.net",
      tlsServerName: "delegated.example.net",
    });
    expect(asked).toEqual(["_matrix-fed._tcp.delegated.example.net"]);
  });

  it("without .well-known, takes the SRV record of lowest priority, then highest weight", async () => {
    const resolver = resolverWith({
      srv: async (name) =>
        name === "_matrix-fed._tcp.example.org"
          ? [srv("b.example.org", 2, 20, 1), srv("a.example.org", 1, 10, 1), srv("c.example.org", 3, 10, 9)]
          : [],
    });
    expect((await resolver.resolve("example.org")).url).toBe("https://c.example.org:3");
  });

  it("falls back to the deprecated _matrix._tcp record", async () => {
    const resolver = resolverWith({
      srv: async (name) => (name === "_matrix._tcp.example.org" ? [srv("old.example.org", 8449)] : []),
    });
    expect(await resolver.resolve("example.org")).toEqual({
      url: "https://old.example.org:8449",
      hostHeader: "example.org",
      tlsServerName: "example.org",
    });
  });

  it("ends at port 8448 of the name when nothing else answers, also when DNS fails", async () => {
    const resolver = resolverWith({
      srv: () => Promise.reject(Object.assign(new Error("boom"), { code: "ESERVFAIL" })),
    });
    expect(await resolver.resolve("example.org")).toEqual({
      url: "https://example.org:8448",
      hostHeader: "example.org",
      tlsServerName: "example.org",
    });
  });
});

describe(".well-known/matrix/server served by a loopback HTTP server", () => {
  let server: LocalHttpServer;
  const routes = new Map<string, (response: ServerResponse) => void>();
  beforeAll(async () => {
    server = await startHttpServer((request, _body, response) => {
      const host = new URL(request.url ?? "/", "http://x").searchParams.get("host") ?? "";
      const route = routes.get(host);
      if (route) route(response);
      else json(response, 404, { errcode: "M_NOT_FOUND" });
    });
  });
  afterAll(() => server.close());
  afterEach(() => {
    routes.clear();
    server.requests.length = 0;
  });

  const lookup = (timeoutMs?: number) =>
    createWellKnownLookup({
      transport: transport(),
      clock,
      url: (host) => `${server.url}/.well-known/matrix/server?host=${host}`,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });

  it("reads m.server and caches it (one request for two lookups)", async () => {
    routes.set("a.test", (response) => json(response, 200, { "m.server": "delegated.a.test:443" }));
    const wellKnown = lookup();
    expect(await wellKnown("a.test")).toBe("delegated.a.test:443");
    expect(await wellKnown("a.test")).toBe("delegated.a.test:443");
    expect(server.requests).toHaveLength(1);
  });

  it("asks again when Cache-Control says no-store", async () => {
    routes.set("b.test", (response) =>
      json(response, 200, { "m.server": "b2.test" }, { "cache-control": "no-store" }),
    );
    const wellKnown = lookup();
    await wellKnown("b.test");
    await wellKnown("b.test");
    expect(server.requests).toHaveLength(2);
  });

  it("reads the body as JSON whatever its Content-Type, and ignores an invalid m.server", async () => {
    routes.set("c.test", (response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.end('{"m.server": "c2.test:8000"}');
    });
    routes.set("d.test", (response) => json(response, 200, { "m.server": "not a server name" }));
    const wellKnown = lookup();
    expect(await wellKnown("c.test")).toBe("c2.test:8000");
    expect(await wellKnown("d.test")).toBeUndefined();
  });

  it("follows redirects", async () => {
    routes.set("e.test", (response) => {
      response.writeHead(302, { location: "/.well-known/matrix/server?host=e2.test" });
      response.end();
    });
    routes.set("e2.test", (response) => json(response, 200, { "m.server": "final.e.test:1" }));
    expect(await lookup()("e.test")).toBe("final.e.test:1");
  });

  it("gives up on a redirect loop after a few hops", async () => {
    routes.set("loop.test", (response) => {
      response.writeHead(301, { location: "/.well-known/matrix/server?host=loop.test" });
      response.end();
    });
    expect(await lookup()("loop.test")).toBeUndefined();
    expect(server.requests.length).toBeLessThanOrEqual(6);
  });

  it("does not follow a redirect to plain HTTP on a non-loopback address", async () => {
    routes.set("away.test", (response) => {
      response.writeHead(302, { location: "http://192.0.2.1/.well-known/matrix/server" });
      response.end();
    });
    const started = Date.now();
    expect(await lookup()("away.test")).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("gives up on a server that does not answer in time", async () => {
    routes.set("slow.test", () => undefined);
    const started = Date.now();
    expect(await lookup(300)("slow.test")).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("feeds discovery: a delegated name with a port is used as it is", async () => {
    routes.set("f.test", (response) => json(response, 200, { "m.server": "127.0.0.1:1234" }));
    const resolver = createServerResolver({ pins: {}, wellKnown: lookup(), clock, resolveSrv: noSrv });
    expect(await resolver.resolve("f.test")).toEqual({
      url: "https://127.0.0.1:1234",
      hostHeader: "127.0.0.1:1234",
    });
  });
});

describe("plain HTTP to other servers (federation.allow_plain_http)", () => {
  const signer = nodeSigner("ed25519:test", new Uint8Array(32).fill(5));
  let peer: LocalHttpServer;
  beforeAll(async () => {
    peer = await startHttpServer((_request, _body, response) => json(response, 200, { ok: true }));
  });
  afterAll(() => peer.close());

  const client = (policy: PlainHttpPolicy, pins: Record<string, string>) =>
    createFederationClient({
      serverName: "me.test",
      signer,
      transport: transport(policy),
      resolver: createServerResolver({ pins, wellKnown: noWellKnown, clock, resolveSrv: noSrv }),
      defaultTimeoutMs: 300,
    });

  async function failure(promise: Promise<unknown>): Promise<FederationRequestError> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FederationRequestError);
    return error as FederationRequestError;
  }

  it("is refused to a non-loopback address by default, before connecting", async () => {
    const started = Date.now();
    const error = await failure(
      client("loopback", { "far.test": "http://192.0.2.1:8008" }).request(
        "far.test",
        "GET",
        "/_matrix/federation/v1/version",
      ),
    );
    expect([error.status, error.errcode]).toEqual([0, "MYELIN_PLAIN_HTTP_REFUSED"]);
    expect(Date.now() - started).toBeLessThan(250);
  });

  it("is allowed to a loopback address by default", async () => {
    const answer = await client("loopback", { "near.test": peer.url }).request(
      "near.test",
      "GET",
      "/_matrix/x",
    );
    expect(answer).toEqual({ ok: true });
  });

  it("is allowed to a name that resolves to loopback only", async () => {
    const answer = await client("loopback", { "near.test": `http://localhost:${peer.port}` }).request(
      "near.test",
      "GET",
      "/_matrix/x",
    );
    expect(answer).toEqual({ ok: true });
  });

  it("is refused even to loopback when off", async () => {
    const error = await failure(
      client("off", { "near.test": peer.url }).request("near.test", "GET", "/_matrix/x"),
    );
    expect(error.errcode).toBe("MYELIN_PLAIN_HTTP_REFUSED");
  });

  it("is attempted to any address when set to any", async () => {
    const error = await failure(
      client("any", { "far.test": "http://192.0.2.1:8008" }).request("far.test", "GET", "/_matrix/x"),
    );
    expect(error.errcode).not.toBe("MYELIN_PLAIN_HTTP_REFUSED");
  });

  it("knows loopback addresses", () => {
    expect(["127.0.0.1", "127.8.9.10", "::1", "[::1]", "::ffff:127.0.0.1"].every(isLoopbackAddress)).toBe(
      true,
    );
    expect(["10.0.0.1", "192.0.2.1", "::2", "localhost", "128.0.0.1"].some(isLoopbackAddress)).toBe(false);
  });
});
