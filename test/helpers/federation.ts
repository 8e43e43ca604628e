// Several real homeservers on loopback that federate: names pinned to each other over plain
// HTTP, each pair of servers linked through its own TCP proxies (so a test can partition any
// two), each server's clock offset controlled through a file (commit windows, section 6).
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startServerProcess, type Backend, type ServerProcess } from "./serverProcess.js";
import { startTcpProxy, type TcpProxy } from "./tcpProxy.js";

export interface FederatedServer extends ServerProcess {
  /** Moves this server's clock forward (the offset accumulates). */
  advanceClock(ms: number): void;
}

export interface Federation {
  readonly servers: readonly FederatedServer[];
  /** Cuts both directions between server i and server j. */
  cut(i: number, j: number): void;
  restore(i: number, j: number): void;
  /** Connections server i made to server j that found the link cut. */
  refusedConnections(i: number, j: number): number;
  close(): Promise<void>;
}

export async function startFederation(
  count: number,
  options: { backend?: Backend; env?: Record<string, string> } = {},
): Promise<Federation> {
  const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
  const names = ports.map((port) => `localhost:${port}`);
  // proxies[i][j]: how server i reaches server j.
  const proxies: (TcpProxy | undefined)[][] = [];
  for (let i = 0; i < count; i++) {
    proxies.push([]);
    for (let j = 0; j < count; j++) proxies[i]!.push(i === j ? undefined : await startTcpProxy(ports[j]!));
  }
  const clockDir = mkdtempSync(join(tmpdir(), "myelin-clocks-"));
  const offsets = ports.map(() => 0);
  const servers: FederatedServer[] = [];
  for (let i = 0; i < count; i++) {
    const clockFile = join(clockDir, `clock-${i}`);
    writeFileSync(clockFile, "0");
    const pins = names
      .map((name, j) => (j === i ? undefined : `${name}=${proxies[i]![j]!.url}`))
      .filter((pin) => pin !== undefined)
      .join(",");
    const server = await startServerProcess({
      port: ports[i]!,
      ...(options.backend ? { backend: options.backend } : {}),
      env: {
        MYELIN_FEDERATION_PINS: pins,
        MYELIN_FEDERATION_ALLOW_PLAIN_HTTP: "loopback",
        MYELIN_FEDERATION_RETRY_INITIAL_MS: "200",
        MYELIN_FEDERATION_RETRY_MAX_MS: "1000",
        MYELIN_CLOCK_OFFSET_FILE: clockFile,
        MYELIN_REQUESTS_PER_SECOND: "1000",
        MYELIN_REQUEST_BURST: "5000",
        ...options.env,
      },
    });
    servers.push(
      Object.assign(server, {
        advanceClock: (ms: number) => {
          offsets[i]! += ms;
          // Written aside and renamed: a server reading the file mid-write would see it empty
          // (offset 0) and its clock would jump back.
          writeFileSync(`${clockFile}.new`, String(offsets[i]));
          renameSync(`${clockFile}.new`, clockFile);
        },
      }),
    );
  }
  const link = (i: number, j: number) => [proxies[i]![j]!, proxies[j]![i]!];
  return {
    servers,
    cut: (i, j) => link(i, j).forEach((proxy) => proxy.cut()),
    restore: (i, j) => link(i, j).forEach((proxy) => proxy.restore()),
    refusedConnections: (i, j) => proxies[i]![j]!.refused,
    close: async () => {
      await Promise.all(servers.map((server) => server.destroy()));
      await Promise.all(proxies.flat().map((proxy) => proxy?.close()));
      rmSync(clockDir, { recursive: true, force: true });
    },
  };
}
