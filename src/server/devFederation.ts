// `npm run dev:federation -- N`: N homeservers on loopback (ports 8008, 8009, ...), each with
// its data in ./data/federation/<n>, their names pinned to each other's plain HTTP addresses, so
// that federation can be tried on one machine. Ctrl-C stops them all.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { "base-port": { type: "string", default: "8008" } },
});
const count = Number(positionals[0] ?? 2);
const basePort = Number(values["base-port"]);
if (!Number.isInteger(count) || count < 1 || count > 20 || !Number.isInteger(basePort) || basePort < 1) {
  console.error("usage: npm run dev:federation -- [N (1-20, default 2)] [--base-port 8008]");
  process.exit(2);
}

let stopping = false;
const servers = Array.from({ length: count }, (_, i) => ({
  n: i + 1,
  port: basePort + i,
  serverName: `localhost:${basePort + i}`,
}));
const pins = servers.map((s) => `${s.serverName}=http://127.0.0.1:${s.port}`).join(",");
const main = fileURLToPath(new URL("./main.ts", import.meta.url));

const children: ChildProcess[] = servers.map((server) => {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    env: {
      ...process.env,
      MYELIN_LISTEN_HOST: "127.0.0.1",
      MYELIN_LISTEN_PORT: String(server.port),
      MYELIN_SERVER_NAME: server.serverName,
      MYELIN_DATA_DIR: `./data/federation/${server.n}`,
      MYELIN_DATABASE: `./data/federation/${server.n}/myelin.db`,
      MYELIN_FEDERATION_PINS: pins,
      MYELIN_FEDERATION_ALLOW_PLAIN_HTTP: "loopback",
      MYELIN_LOG_LEVEL: process.env.MYELIN_LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = `[${server.n}] `;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n"))
        if (line !== "") process.stdout.write(prefix + line + "\n");
    });
  }
  child.on("exit", (code, signal) => {
    console.log(`${prefix}${server.serverName} exited (${signal ?? code})`);
    if (!stopping) stop();
  });
  return child;
});

await Promise.all(servers.map((server) => waitUntilListening(server.port)));
if (!stopping) {
  for (const server of servers) {
    console.log(`[${server.n}] server name ${server.serverName}  http://127.0.0.1:${server.port}`);
  }
  console.log("Ctrl-C stops them all.");
}

async function waitUntilListening(port: number): Promise<void> {
  while (!stopping) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/_matrix/client/versions`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function stop(): void {
  stopping = true;
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
