// Assembles the federation services of a server from its configuration: discovery, the HTTP
// transport, the signing client, remote keys and the outbound queue.
import { readFileSync } from "node:fs";
import type { FastifyBaseLogger } from "fastify";
import type { ProtocolCrypto } from "../../../protocol/crypto.js";
import type { Clock } from "../../clock.js";
import type { ServerConfig } from "../../config.js";
import type { ServerSigningKey } from "../../signingKey.js";
import type { Database } from "../../storage/database.js";
import { OFFSET_CLOCK_CHECK_MS } from "../outbound/destinationSender.js";
import { createOutboundQueue, type ManagedOutboundQueue } from "../outbound/outboundQueue.js";
import type { Scheduler } from "../outbound/scheduler.js";
import type { Federation } from "../../federationTypes.js";
import { createServerResolver, type SrvResolver } from "./discovery.js";
import { createFederationClient, type FederationClientWithKeys } from "./federationClient.js";
import { createHttpTransport } from "./httpTransport.js";
import { createRemoteKeys } from "./remoteKeys.js";
import { recordOwnKey } from "./serverKeys.js";
import { createWellKnownLookup } from "./wellKnown.js";

const KEY_FETCH_TIMEOUT_MS = 10_000;

export interface FederationServices extends Federation {
  readonly client: FederationClientWithKeys;
  readonly outbound: ManagedOutboundQueue;
  /** Stops the senders and closes kept-alive connections. */
  close(): Promise<void>;
}

export interface FederationDeps {
  readonly config: ServerConfig;
  readonly db: Database;
  readonly signingKey: ServerSigningKey;
  readonly crypto: ProtocolCrypto;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  /** For tests: SRV lookups and the outbound queue's timers. */
  readonly resolveSrv?: SrvResolver;
  readonly scheduler?: Scheduler;
}

/** Records our current signing key (retiring a previous one) and builds the services. */
export async function createFederationServices(deps: FederationDeps): Promise<FederationServices> {
  const { config, db, clock, log } = deps;
  const settings = config.federation;
  await recordOwnKey(db, deps.signingKey, clock.now());
  const transport = createHttpTransport({
    allowPlainHttp: settings.allowPlainHttp,
    ...(settings.caFile !== undefined ? { extraCa: readFileSync(settings.caFile, "utf8") } : {}),
    privateAddresses: { allow: settings.allowPrivateAddresses, allowlist: settings.privateAddressAllowlist },
  });
  const resolver = createServerResolver({
    pins: settings.pins,
    wellKnown: createWellKnownLookup({ transport, clock }),
    clock,
    ...(deps.resolveSrv !== undefined ? { resolveSrv: deps.resolveSrv } : {}),
  });
  const client = createFederationClient({
    serverName: config.serverName,
    signer: deps.signingKey,
    resolver,
    transport,
  });
  const keys = createRemoteKeys({
    serverName: config.serverName,
    signingKey: deps.signingKey,
    db,
    crypto: deps.crypto,
    clock,
    log,
    newServerFetches: { perSecond: settings.keyFetchesPerSecond, burst: settings.keyFetchBurst },
    fetchServerKeys: (server) =>
      client.getUnsigned(server, "/_matrix/key/v2/server", { timeoutMs: KEY_FETCH_TIMEOUT_MS }),
  });
  const outbound = createOutboundQueue({
    serverName: config.serverName,
    db,
    client,
    clock,
    log,
    retryInitialMs: settings.retryInitialMs,
    retryMaxMs: settings.retryMaxMs,
    probeIntervalMs: settings.probeIntervalMs,
    // A clock a test moves through the offset file is looked at often: its jumps take effect soon.
    ...(config.clockOffsetFile !== undefined ? { clockCheckMs: OFFSET_CLOCK_CHECK_MS } : {}),
    ...(deps.scheduler !== undefined ? { scheduler: deps.scheduler } : {}),
  });
  return {
    client,
    keys,
    outbound,
    close: async () => {
      await outbound.close();
      transport.close();
    },
  };
}
