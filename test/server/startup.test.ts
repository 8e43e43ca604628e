// Start-up, shutdown and the HTTP edge's Matrix errors, on both storage backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { request } from "../helpers/http.js";

describe.each(BACKENDS)("homeserver on %s", (backend) => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ backend });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("answers /versions", async () => {
    const reply = await request<{ versions: string[] }>(server.url, "GET", "/_matrix/client/versions");
    expect(reply.body.versions).toContain("v1.11");
  });
  it("refuses an unknown endpoint with M_UNRECOGNIZED", async () => {
    const reply = await request(server.url, "GET", "/_matrix/client/v3/no/such/thing");
    expect([reply.status, reply.body.errcode]).toEqual([404, "M_UNRECOGNIZED"]);
  });
  it("refuses a body that is not JSON with M_NOT_JSON", async () => {
    const reply = await request(server.url, "POST", "/_matrix/client/v3/login", { rawBody: "{not json" });
    expect([reply.status, reply.body.errcode]).toEqual([400, "M_NOT_JSON"]);
  });
  it("refuses a request without a token with M_MISSING_TOKEN", async () => {
    const reply = await request(server.url, "GET", "/_matrix/client/v3/capabilities");
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
  });
  it("refuses an unknown token with M_UNKNOWN_TOKEN", async () => {
    const reply = await request(server.url, "GET", "/_matrix/client/v3/capabilities", { token: "nope" });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNKNOWN_TOKEN"]);
  });
  it("keeps its signing key across restarts", async () => {
    const { readFileSync } = await import("node:fs");
    const before = readFileSync(`${server.dataDir}/signing.key`, "utf8");
    await server.stop();
    await server.restart();
    expect(readFileSync(`${server.dataDir}/signing.key`, "utf8")).toBe(before);
  });
  it("never logs an access token given in the query string", async () => {
    await request(server.url, "GET", "/_matrix/client/v3/capabilities?access_token=secret_token_value");
    expect(server.logs()).not.toContain("secret_token_value");
  });
});

describe("limits", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({
      env: { MYELIN_MAX_BODY_BYTES: "2048", MYELIN_REQUESTS_PER_SECOND: "1", MYELIN_REQUEST_BURST: "5" },
    });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("refuses a body over the limit with 413 M_TOO_LARGE", async () => {
    const reply = await request(server.url, "POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", padding: "x".repeat(4096) },
    });
    expect([reply.status, reply.body.errcode]).toEqual([413, "M_TOO_LARGE"]);
  });
  it("refuses a flood with 429 M_LIMIT_EXCEEDED and retry_after_ms", async () => {
    const replies = [];
    for (let i = 0; i < 8; i++) replies.push(await request(server.url, "GET", "/_matrix/client/versions"));
    const limited = replies.find((reply) => reply.status === 429);
    expect([limited?.body.errcode, typeof limited?.body.retry_after_ms]).toEqual([
      "M_LIMIT_EXCEEDED",
      "number",
    ]);
  });
});
