// `npm start`: runs the homeserver until SIGINT or SIGTERM.
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config.js";
import { startServer } from "./server.js";

// Whatever the server creates (database files, signing key) is its user's alone.
process.umask(0o077);

const { values } = parseArgs({ options: { config: { type: "string" } } });

let config;
try {
  config = loadConfig({ file: values.config });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`myelin: configuration error: ${error.message}`);
  process.exit(2);
}

const server = await startServer(config);
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.app.log.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.app.log.error({ err: error }, "unclean shutdown");
        process.exit(1);
      },
    );
  });
}
