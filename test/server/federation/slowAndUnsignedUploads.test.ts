// Issue 9, defect 5: federation accepted 16 MiB bodies before authentication, with no body
// timeout, so stalled uploads held memory and connections at will. A real server process with
// the federation TLS listener: a request without a valid X-Matrix header is answered 401 before
// its body is sent and its connection closed; a body that stalls is cut after
// limits.body_timeout_ms on the federation routes of both listeners and on the client API; 40
// stalled 12 MB uploads leave the server's memory where it was.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { xMatrixAuthorization } from "../../../src/server/federation/transport/xMatrix.js";
import { startTestPeer, type TestPeer } from "../../helpers/hostilePeer.js";
import { freePort, startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { pinsEnv, transaction } from "./federationPeer.js";
import { selfSignedCertificate } from "../../helpers/tls.js";

const BODY_TIMEOUT_MS = 1_500;
const TWELVE_MB = 12 * 1024 * 1024;

interface Exchange {
  /** Everything the server sent. */
  readonly text: string;
  /** Whether the server closed the connection before the wait ended. */
  readonly closed: boolean;
  /** Milliseconds from the request's headers to the close (or the end of the wait). */
  readonly ms: number;
}

describe("uploads that are not signed, or stall (issue 9, defect 5)", () => {
  let dir: string;
  let ca: string;
  let server: ServerProcess;
  let peer: TestPeer;
  let tlsPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "myelin-uploads-"));
    const { certFile, keyFile } = selfSignedCertificate(dir);
    ca = readFileSync(certFile, "utf8");
    peer = await startTestPeer();
    tlsPort = await freePort();
    server = await startServerProcess({
      env: {
        MYELIN_FEDERATION_TLS_CERT: certFile,
        MYELIN_FEDERATION_TLS_KEY: keyFile,
        MYELIN_FEDERATION_PORT: String(tlsPort),
        MYELIN_FEDERATION_PINS: pinsEnv([{ serverName: peer.serverName, port: peer.port }]),
        MYELIN_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS),
      },
    });
  }, 30_000);
  afterAll(async () => {
    await server?.destroy();
    await peer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const port = () => Number(new URL(server.url).port);

  function open(listener: "main" | "tls"): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const socket =
        listener === "main"
          ? netConnect(port(), "127.0.0.1", () => resolve(socket))
          : tlsConnect({ host: "127.0.0.1", port: tlsPort, ca, servername: "localhost" }, () =>
              resolve(socket),
            );
      socket.once("error", reject);
    });
  }

  /** Request headers only, declaring a body of `length` bytes. */
  function head(path: string, length: number, authorization?: string): string {
    return [
      `PUT ${path} HTTP/1.1`,
      "Host: localhost",
      "Content-Type: application/json",
      `Content-Length: ${length}`,
      ...(authorization !== undefined ? [`Authorization: ${authorization}`] : []),
      "",
      "",
    ].join("\r\n");
  }

  /** Sends `first` on a new connection, then nothing, and collects the answer for up to `waitMs`. */
  async function exchange(listener: "main" | "tls", first: string, waitMs: number): Promise<Exchange> {
    const socket = await open(listener);
    const started = Date.now();
    return new Promise((resolve) => {
      let text = "";
      const finish = (closed: boolean) => {
        clearTimeout(timer);
        socket.destroy();
        resolve({ text, closed, ms: Date.now() - started });
      };
      const timer = setTimeout(() => finish(false), waitMs);
      socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
      socket.on("error", () => undefined);
      socket.on("close", () => finish(true));
      socket.write(first);
    });
  }

  /** An X-Matrix header of the pinned peer for `path`: valid until the body is read. */
  const peerHeader = (path: string) =>
    xMatrixAuthorization(
      {
        method: "PUT",
        uri: path,
        origin: peer.serverName,
        destination: server.serverName,
        content: transaction(peer.serverName),
      },
      peer.signer,
    );

  describe("a 12 MB upload whose X-Matrix header fails is refused before its body is sent", () => {
    it("without an Authorization header: 401, connection closed", async () => {
      const reply = await exchange("main", head("/_matrix/federation/v1/send/nohead", TWELVE_MB), 3_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 401 /);
      expect(reply.text).toContain("M_UNAUTHORIZED");
      expect(reply.closed).toBe(true);
    });

    it("with an X-Matrix header for another destination: 401, connection closed", async () => {
      const path = "/_matrix/federation/v1/send/elsewhere";
      const authorization = xMatrixAuthorization(
        { method: "PUT", uri: path, origin: peer.serverName, destination: "elsewhere.test" },
        peer.signer,
      );
      const reply = await exchange("main", head(path, TWELVE_MB, authorization), 3_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 401 /);
      expect(reply.closed).toBe(true);
    });

    it("with an X-Matrix header naming a key the origin does not have: 401, connection closed", async () => {
      const path = "/_matrix/federation/v1/send/nokey";
      const authorization = peerHeader(path).replace("ed25519:peer", "ed25519:unknown");
      const reply = await exchange("main", head(path, TWELVE_MB, authorization), 3_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 401 /);
      expect(reply.closed).toBe(true);
    });

    it("on the federation TLS listener too", async () => {
      const reply = await exchange("tls", head("/_matrix/federation/v1/send/tlsnohead", TWELVE_MB), 3_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 401 /);
      expect(reply.closed).toBe(true);
    });
  });

  describe("a body that stalls is cut after limits.body_timeout_ms", () => {
    it("on a federation route of the main listener, whose header is valid", async () => {
      const path = "/_matrix/federation/v1/send/stall1";
      const reply = await exchange("main", `${head(path, 1_000, peerHeader(path))}{"origin"`, 8_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(reply.closed).toBe(true);
      expect(reply.ms).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 100);
    });

    it("on the federation TLS listener", async () => {
      const path = "/_matrix/federation/v1/send/stall2";
      const reply = await exchange("tls", `${head(path, 1_000, peerHeader(path))}{"origin"`, 8_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(reply.closed).toBe(true);
    });

    it("on the client API", async () => {
      const first = head("/_matrix/client/v3/login", 1_000).replace("PUT", "POST");
      const reply = await exchange("main", `${first}{"type"`, 8_000);
      expect(reply.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(reply.closed).toBe(true);
    });
  });

  it("keeps its memory bounded under 40 stalled 12 MB uploads without a valid header", async () => {
    const rss = () => {
      const status = readFileSync(`/proc/${server.pid()}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
    };
    const before = rss();
    const sockets = await Promise.all(Array.from({ length: 40 }, () => open("main")));
    const chunk = Buffer.alloc(64 * 1024, "a");
    // Each sends 8 MB of its 12 MB, as fast as the server takes them, then stalls.
    await Promise.all(
      sockets.map(async (socket, i) => {
        socket.on("error", () => undefined);
        socket.write(head(`/_matrix/federation/v1/send/stalled${i}`, TWELVE_MB));
        for (let sent = 0; sent < 8 * 1024 * 1024 && !socket.destroyed; sent += chunk.length) {
          if (!socket.write(chunk)) {
            await new Promise((resolve) => {
              socket.once("drain", resolve);
              socket.once("close", resolve);
            });
          }
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = rss();
    for (const socket of sockets) socket.destroy();
    expect(after - before, `RSS went from ${before} to ${after} bytes`).toBeLessThan(100 * 1024 * 1024);
  }, 60_000);
});
