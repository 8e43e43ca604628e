// TLS for federation between real server processes: a server with federation.tls_cert and
// tls_key serves the federation and key APIs over HTTPS on federation.port; another server
// reaches it there and checks its certificate (trusting it through federation.ca_file), and a
// server that does not trust the certificate refuses to talk to it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { serverSigner, signedRequest, transaction } from "./federationPeer.js";
import { selfSignedCertificate } from "../../helpers/tls.js";

/** GET over HTTPS trusting `ca`: status and JSON body. */
function httpsGet(url: string, ca: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) }));
      })
      .on("error", reject);
  });
}

describe("federation over TLS", () => {
  let dir: string;
  let certFile: string;
  let secure: ServerProcess;
  let trusting: ServerProcess;
  let distrusting: ServerProcess;
  let tlsPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "myelin-tls-"));
    let keyFile: string;
    ({ certFile, keyFile } = selfSignedCertificate(dir));
    tlsPort = await freePort();
    const securePort = await freePort();
    const pins = `localhost:${securePort}=https://localhost:${tlsPort}`;
    [secure, trusting, distrusting] = await Promise.all([
      startServerProcess({
        port: securePort,
        env: {
          MYELIN_FEDERATION_TLS_CERT: certFile,
          MYELIN_FEDERATION_TLS_KEY: keyFile,
          MYELIN_FEDERATION_PORT: String(tlsPort),
        },
      }),
      startServerProcess({ env: { MYELIN_FEDERATION_PINS: pins, MYELIN_FEDERATION_CA_FILE: certFile } }),
      startServerProcess({ env: { MYELIN_FEDERATION_PINS: pins } }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([secure?.destroy(), trusting?.destroy(), distrusting?.destroy()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves its keys over HTTPS on federation.port", async () => {
    const reply = await httpsGet(
      `https://localhost:${tlsPort}/_matrix/key/v2/server`,
      readFileSync(certFile, "utf8"),
    );
    expect([reply.status, reply.body.server_name]).toEqual([200, secure.serverName]);
  });

  it("serves only the federation and key APIs there", async () => {
    const reply = await httpsGet(
      `https://localhost:${tlsPort}/_matrix/client/versions`,
      readFileSync(certFile, "utf8"),
    );
    expect([reply.status, reply.body.errcode]).toEqual([404, "M_UNRECOGNIZED"]);
  });

  it("is reached over HTTPS by a server that trusts its certificate", async () => {
    const reply = await signedRequest(trusting.url, "PUT", "/_matrix/federation/v1/send/tls-1", {
      origin: secure.serverName,
      destination: trusting.serverName,
      signer: serverSigner(secure.dataDir),
      body: transaction(secure.serverName),
    });
    expect(reply.status).toBe(200);
  });

  it("is not trusted by a server that cannot verify its certificate", async () => {
    const reply = await signedRequest(distrusting.url, "PUT", "/_matrix/federation/v1/send/tls-2", {
      origin: secure.serverName,
      destination: distrusting.serverName,
      signer: serverSigner(secure.dataDir),
      body: transaction(secure.serverName),
    });
    expect([reply.status, reply.body.errcode]).toEqual([401, "M_UNAUTHORIZED"]);
    // Log lines reach the test through a pipe, a moment after the answer.
    for (let i = 0; i < 100 && !/could not fetch the signing keys/.test(distrusting.logs()); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const line = distrusting
      .logs()
      .split("\n")
      .find((l) => l.includes("could not fetch the signing keys"));
    expect(line).toMatch(/self.signed certificate|SELF_SIGNED/i);
  });
});
