// Assembles and starts the homeserver: storage, signing key, HTTP app, components.
import type { FastifyInstance } from "fastify";
import { chmodSync, mkdirSync } from "node:fs";
import { nodeCrypto } from "../platform/nodeCrypto.js";
import { offsetFileClock, systemClock, type Clock } from "./clock.js";
import type { ServerConfig } from "./config.js";
import { components } from "./components.js";
import type { ServerContext } from "./context.js";
import { createFederationServices, type FederationDeps } from "./federation/transport/federationServices.js";
import { createKeyFederation } from "./federation/edus/keyFederation.js";
import { createInboundTransactions } from "./federation/transport/inboundTransactions.js";
import { createFederationRouter } from "./federation/transport/router.js";
import { startTlsListener, type TlsListener } from "./federation/transport/tlsListener.js";
import { clientApi, createHttpApp } from "./http/app.js";
import { limitRequestTime } from "./http/requestTimeouts.js";
import { Notifier } from "./notifier.js";
import { PasswordHasher } from "./auth/passwords.js";
import { Sessions } from "./auth/sessions.js";
import { loadOrCreateSigningKey } from "./signingKey.js";
import type { Migrations } from "./storage/database.js";
import { openDatabase } from "./storage/open.js";

const SHUTDOWN_GRACE_MS = 3_000;

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly ctx: ServerContext;
  /** Where it listens, for instance http://127.0.0.1:8008. */
  readonly url: string;
  /** The federation HTTPS listener, when federation.tls_cert and tls_key are configured. */
  readonly federationUrl?: string;
  close(): Promise<void>;
}

/** Test hooks of the federation services (SRV lookups, retry timers). */
export type StartOptions = Pick<FederationDeps, "resolveSrv" | "scheduler">;

export async function startServer(
  config: ServerConfig,
  clock: Clock = config.clockOffsetFile !== undefined ? offsetFileClock(config.clockOffsetFile) : systemClock,
  options: StartOptions = {},
): Promise<RunningServer> {
  // The data directory holds the signing key and, by default, the database: the server's user
  // alone may enter it (docs/privacy.md).
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  let dataDirError: unknown;
  try {
    chmodSync(config.dataDir, 0o700);
  } catch (error) {
    // A directory another user owns (a mounted volume, say) stays as its owner made it.
    dataDirError = error;
  }
  const migrations = components.flatMap((c) => (c.migrations ? [c.migrations] : [])) as Migrations[];
  const db = await openDatabase(config.database, migrations);
  const sessions = new Sessions(db);
  const app = createHttpApp(config, clock, (token) => sessions.cached(token));
  if (dataDirError !== undefined)
    app.log.warn({ err: dataDirError, dataDir: config.dataDir }, "cannot make the data directory private");
  const signingKey = loadOrCreateSigningKey(config.dataDir);
  const crypto = nodeCrypto();
  const federation = await createFederationServices({
    config,
    db,
    signingKey,
    crypto,
    clock,
    log: app.log,
    ...options,
  });
  const ctx: ServerContext = {
    config,
    db,
    signingKey,
    crypto,
    clock,
    log: app.log,
    sessions,
    passwords: new PasswordHasher({ workers: config.auth.hashWorkers, queue: config.auth.hashQueue }),
    notifier: new Notifier(),
    federation,
    keyFederation: createKeyFederation({ serverName: config.serverName, federation }),
  };
  const router = createFederationRouter(app, {
    serverName: config.serverName,
    keys: federation.keys,
    crypto,
    clock,
    requestsPerSecond: config.federation.requestsPerSecond,
    requestBurst: config.federation.requestBurst,
    unauthenticatedRequestsPerSecond: config.federation.unauthenticatedRequestsPerSecond,
    unauthenticatedRequestBurst: config.federation.unauthenticatedRequestBurst,
    maxBodyBytes: config.federation.maxBodyBytes,
    onVerifiedOrigin: (origin) => federation.outbound.peerSeen(origin),
  });
  const inbound = createInboundTransactions(ctx);
  inbound.routes(router);
  const participants = components.flatMap((component) =>
    component.federation ? [component.federation(ctx)] : [],
  );
  for (const component of components) component.rootRoutes?.(app, ctx);
  for (const participant of participants) {
    participant.routes?.(router, app);
    participant.registerHandlers?.(inbound);
  }
  clientApi(app, (api) => {
    for (const component of components) component.clientRoutes?.(api, ctx);
  });
  let url: string;
  let tls: TlsListener | undefined;
  try {
    // Federation routes are served on the main listener too: plain HTTP on loopback is how
    // tests and `npm run dev:federation` federate.
    limitRequestTime(app.server, config.limits.bodyTimeoutMs);
    url = await app.listen({ host: config.listen.host, port: config.listen.port });
    if (config.federation.tls !== undefined)
      tls = await startTlsListener(app, config.federation.tls, config.limits.bodyTimeoutMs);
  } catch (error) {
    await app.close();
    await ctx.passwords.close();
    await Promise.all(participants.map((participant) => participant.close?.()));
    await federation.close();
    await db.close();
    throw error;
  }
  await federation.outbound.start();
  for (const participant of participants) participant.start?.();
  app.log.info(
    { serverName: config.serverName, url, federationUrl: tls?.url, database: db.dialect },
    "myelin homeserver listening",
  );
  return {
    app,
    ctx,
    url,
    ...(tls !== undefined ? { federationUrl: tls.url } : {}),
    close: async () => {
      ctx.notifier.close();
      // In-flight requests get a grace period; connections a client left half-open do not hold
      // the shutdown beyond it (an unanswered send is retried by its client, idempotently).
      const force = setTimeout(() => app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await Promise.all([app.close(), tls?.close()]);
      clearTimeout(force);
      await Promise.all(participants.map((participant) => participant.close?.()));
      await ctx.passwords.close();
      await federation.close();
      await db.close();
    },
  };
}
