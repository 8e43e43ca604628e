// What every route module and service gets: configuration, storage, keys, time, wake-ups.
import type { FastifyBaseLogger } from "fastify";
import type { ProtocolCrypto } from "../protocol/crypto.js";
import type { Clock } from "./clock.js";
import type { Federation } from "./federationTypes.js";
import type { ServerConfig } from "./config.js";
import type { KeyFederation } from "./keyFederation.js";
import type { Notifier } from "./notifier.js";
import type { PasswordHasher } from "./auth/passwords.js";
import type { Sessions } from "./auth/sessions.js";
import type { ServerSigningKey } from "./signingKey.js";
import type { Database } from "./storage/database.js";

export interface ServerContext {
  readonly config: ServerConfig;
  readonly db: Database;
  readonly signingKey: ServerSigningKey;
  readonly crypto: ProtocolCrypto;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
  readonly sessions: Sessions;
  readonly passwords: PasswordHasher;
  readonly notifier: Notifier;
  readonly federation: Federation;
  /** The keys domain's way to other servers (implemented in federation/edus/keyFederation.ts). */
  readonly keyFederation: KeyFederation;
}
