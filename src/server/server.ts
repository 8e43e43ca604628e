// Assembles and starts the homeserver: storage, signing key, HTTP app, components.
import type { FastifyInstance } from "fastify";
import { nodeCrypto } from "../platform/nodeCrypto.js";
import { systemClock, type Clock } from "./clock.js";
import type { ServerConfig } from "./config.js";
import { components } from "./components.js";
import type { ServerContext } from "./context.js";
import { clientApi, createHttpApp } from "./http/app.js";
import { Notifier } from "./services/notifier.js";
import { Sessions } from "./services/sessions.js";
import { loadOrCreateSigningKey } from "./signingKey.js";
import type { Migrations } from "./storage/database.js";
import { openDatabase } from "./storage/open.js";

const SHUTDOWN_GRACE_MS = 3_000;

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly ctx: ServerContext;
  /** Where it listens, for instance http://127.0.0.1:8008. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startServer(config: ServerConfig, clock: Clock = systemClock): Promise<RunningServer> {
  const app = createHttpApp(config, clock);
  const migrations = components.flatMap((c) => (c.migrations ? [c.migrations] : [])) as Migrations[];
  const db = await openDatabase(config.database, migrations);
  const ctx: ServerContext = {
    config,
    db,
    signingKey: loadOrCreateSigningKey(config.dataDir),
    crypto: nodeCrypto(),
    clock,
    log: app.log,
    sessions: new Sessions(db),
    notifier: new Notifier(),
  };
  for (const component of components) component.rootRoutes?.(app, ctx);
  clientApi(app, (api) => {
    for (const component of components) component.clientRoutes?.(api, ctx);
  });
  let url: string;
  try {
    url = await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    await db.close();
    throw error;
  }
  app.log.info({ serverName: config.serverName, url, database: db.dialect }, "myelin homeserver listening");
  return {
    app,
    ctx,
    url,
    close: async () => {
      ctx.notifier.close();
      // In-flight requests get a grace period; connections a client left half-open do not hold
      // the shutdown beyond it (an unanswered send is retried by its client, idempotently).
      const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await app.close();
      clearTimeout(force);
      await db.close();
    },
  };
}
