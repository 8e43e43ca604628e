// Server configuration: defaults, then the config file (--config FILE, YAML or JSON), then
// MYELIN_* environment variables. docs/configuration.md lists every option.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { isValidServerName } from "../protocol/serverName.js";

export type RegistrationMode = "open" | "token" | "closed";

/** Where plain HTTP to other servers is allowed: nowhere, to loopback addresses only, or anywhere. */
export type PlainHttpPolicy = "off" | "loopback" | "any";

export interface FederationConfig {
  /** Server name -> base URL ("https://host:port" or "http://host:port"), used before discovery. */
  readonly pins: Readonly<Record<string, string>>;
  readonly allowPlainHttp: PlainHttpPolicy;
  /** The HTTPS listener for federation, present when a certificate and key are configured. */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly host: string;
    readonly port: number;
  };
  /** Extra CA certificates (PEM) trusted for outbound HTTPS, besides the system's. */
  readonly caFile?: string;
  /** Sustained requests per second per verified origin server. */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** Largest request body on federation routes (a transaction holds up to 50 PDUs of 64 KiB). */
  readonly maxBodyBytes: number;
  /** Outbound retry backoff: first delay, doubled after each failure up to the maximum. */
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  // Hardening against unauthenticated peers (issue 9).
  /** Requests per second per address that fail the X-Matrix check (or carry none). */
  readonly unauthenticatedRequestsPerSecond: number;
  readonly unauthenticatedRequestBurst: number;
  // Recovery after a partition (issue 16).
  /** Longest interval between two probes of an unreachable destination that we owe transactions. */
  readonly probeIntervalMs: number;
  /** Key fetches per second from servers whose keys we have never had, all together. */
  readonly keyFetchesPerSecond: number;
  readonly keyFetchBurst: number;
  /** Outbound connections to private, loopback and link-local addresses: pins, or these. */
  readonly allowPrivateAddresses: boolean;
  /** CIDR networks (`10.1.0.0/16`, `fd00::/8`) allowed although private. */
  readonly privateAddressAllowlist: readonly string[];
}

/** Login and registration: attempt limits and password hashing (defect 3 of the review). */
export interface AuthConfig {
  /** POST /login and /register requests per minute per client address, and their burst. */
  readonly attemptsPerMinute: number;
  readonly attemptBurst: number;
  /** Failed password checks (and registration attempts) per minute per user name, and burst. */
  readonly failuresPerMinute: number;
  readonly failureBurst: number;
  /** Worker threads that hash passwords, and how many hashes may wait for one. */
  readonly hashWorkers: number;
  readonly hashQueue: number;
}

export interface ServerConfig {
  readonly listen: { readonly host: string; readonly port: number };
  readonly serverName: string;
  /** A SQLite file path or a postgres:// URL. */
  readonly database: string;
  /** Where the federation signing key (and the default SQLite file) live. */
  readonly dataDir: string;
  readonly registration: RegistrationMode;
  readonly registrationTokens: readonly string[];
  readonly limits: {
    readonly maxBodyBytes: number;
    /** Sustained requests per second per user (or per address before login). */
    readonly requestsPerSecond: number;
    readonly requestBurst: number;
    /** A request's headers and body must arrive within this (both listeners). */
    readonly bodyTimeoutMs: number;
  };
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  readonly federation: FederationConfig;
  readonly auth: AuthConfig;
  /** Testing aid: the clock is Date.now() plus the milliseconds in this file (see clock.ts). */
  readonly clockOffsetFile?: string;
  readonly retention: RetentionConfig;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function isLoopbackOnly(host: string): boolean {
  return LOOPBACK.has(host) || (isIP(host) === 4 && host.startsWith("127."));
}

interface RawConfig {
  listen?: { host?: unknown; port?: unknown };
  server_name?: unknown;
  database?: unknown;
  data_dir?: unknown;
  registration?: unknown;
  registration_tokens?: unknown;
  limits?: {
    max_body_bytes?: unknown;
    requests_per_second?: unknown;
    request_burst?: unknown;
    body_timeout_ms?: unknown;
  };
  log_level?: unknown;
  federation?: {
    pins?: unknown;
    allow_plain_http?: unknown;
    tls_cert?: unknown;
    tls_key?: unknown;
    host?: unknown;
    port?: unknown;
    ca_file?: unknown;
    requests_per_second?: unknown;
    request_burst?: unknown;
    max_body_bytes?: unknown;
    retry_initial_ms?: unknown;
    retry_max_ms?: unknown;
    unauthenticated_requests_per_second?: unknown;
    unauthenticated_request_burst?: unknown;
    key_fetches_per_second?: unknown;
    key_fetch_burst?: unknown;
    probe_interval_ms?: unknown;
    allow_private_addresses?: unknown;
    private_address_allowlist?: unknown;
  };
  clock_offset_file?: unknown;
  retention?: RawRetention;
  auth?: {
    attempts_per_minute?: unknown;
    attempt_burst?: unknown;
    failures_per_minute?: unknown;
    failure_burst?: unknown;
    hash_workers?: unknown;
    hash_queue?: unknown;
  };
}

/** `name=url,name=url` as MYELIN_FEDERATION_PINS writes the pins. */
function pinsFromEnv(value: string | undefined): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const pins: Record<string, string> = {};
  for (const entry of value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const at = entry.indexOf("=");
    if (at < 1)
      throw new ConfigError(`MYELIN_FEDERATION_PINS entry ${JSON.stringify(entry)} is not name=url`);
    pins[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return pins;
}

function fromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const list = (value: string | undefined) =>
    value
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
  const boolean = (value: string | undefined) =>
    value === "true" ? true : value === "false" ? false : value;
  return {
    listen: { host: env.MYELIN_LISTEN_HOST, port: number(env.MYELIN_LISTEN_PORT) },
    server_name: env.MYELIN_SERVER_NAME,
    database: env.MYELIN_DATABASE,
    data_dir: env.MYELIN_DATA_DIR,
    registration: env.MYELIN_REGISTRATION,
    registration_tokens: list(env.MYELIN_REGISTRATION_TOKENS),
    limits: {
      max_body_bytes: number(env.MYELIN_MAX_BODY_BYTES),
      requests_per_second: number(env.MYELIN_REQUESTS_PER_SECOND),
      request_burst: number(env.MYELIN_REQUEST_BURST),
      body_timeout_ms: number(env.MYELIN_BODY_TIMEOUT_MS),
    },
    log_level: env.MYELIN_LOG_LEVEL,
    federation: {
      pins: pinsFromEnv(env.MYELIN_FEDERATION_PINS),
      allow_plain_http: env.MYELIN_FEDERATION_ALLOW_PLAIN_HTTP,
      tls_cert: env.MYELIN_FEDERATION_TLS_CERT,
      tls_key: env.MYELIN_FEDERATION_TLS_KEY,
      host: env.MYELIN_FEDERATION_HOST,
      port: number(env.MYELIN_FEDERATION_PORT),
      ca_file: env.MYELIN_FEDERATION_CA_FILE,
      requests_per_second: number(env.MYELIN_FEDERATION_REQUESTS_PER_SECOND),
      request_burst: number(env.MYELIN_FEDERATION_REQUEST_BURST),
      max_body_bytes: number(env.MYELIN_FEDERATION_MAX_BODY_BYTES),
      retry_initial_ms: number(env.MYELIN_FEDERATION_RETRY_INITIAL_MS),
      retry_max_ms: number(env.MYELIN_FEDERATION_RETRY_MAX_MS),
      unauthenticated_requests_per_second: number(env.MYELIN_FEDERATION_UNAUTHENTICATED_REQUESTS_PER_SECOND),
      unauthenticated_request_burst: number(env.MYELIN_FEDERATION_UNAUTHENTICATED_REQUEST_BURST),
      key_fetches_per_second: number(env.MYELIN_FEDERATION_KEY_FETCHES_PER_SECOND),
      key_fetch_burst: number(env.MYELIN_FEDERATION_KEY_FETCH_BURST),
      probe_interval_ms: number(env.MYELIN_FEDERATION_PROBE_INTERVAL_MS),
      allow_private_addresses: boolean(env.MYELIN_FEDERATION_ALLOW_PRIVATE_ADDRESSES),
      private_address_allowlist: list(env.MYELIN_FEDERATION_PRIVATE_ADDRESS_ALLOWLIST),
    },
    clock_offset_file: env.MYELIN_CLOCK_OFFSET_FILE,
    retention: retentionFromEnv(env, number),
    auth: {
      attempts_per_minute: number(env.MYELIN_AUTH_ATTEMPTS_PER_MINUTE),
      attempt_burst: number(env.MYELIN_AUTH_ATTEMPT_BURST),
      failures_per_minute: number(env.MYELIN_AUTH_FAILURES_PER_MINUTE),
      failure_burst: number(env.MYELIN_AUTH_FAILURE_BURST),
      hash_workers: number(env.MYELIN_AUTH_HASH_WORKERS),
      hash_queue: number(env.MYELIN_AUTH_HASH_QUEUE),
    },
  };
}

function pick<T>(...values: unknown[]): T | undefined {
  return values.find((value) => value !== undefined) as T | undefined;
}

function positiveInteger(value: unknown, name: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`${name} must be an integer from 1 to ${max}, not ${JSON.stringify(value)}`);
  }
  return value;
}

export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): ServerConfig {
  let file: RawConfig = {};
  if (options.file !== undefined) {
    const parsed: unknown = parseYaml(readFileSync(options.file, "utf8"));
    if (parsed !== null && (typeof parsed !== "object" || Array.isArray(parsed))) {
      throw new ConfigError(`${options.file} must hold a mapping of options`);
    }
    file = (parsed ?? {}) as RawConfig;
  }
  const env = fromEnv(options.env ?? process.env);

  const host = pick<string>(env.listen?.host, file.listen?.host) ?? "127.0.0.1";
  if (typeof host !== "string" || host.length === 0)
    throw new ConfigError("listen.host must be a host name or address");
  const port = positiveInteger(pick(env.listen?.port, file.listen?.port) ?? 8008, "listen.port", 65_535);
  const serverName = pick<string>(env.server_name, file.server_name) ?? `localhost:${port}`;
  if (typeof serverName !== "string" || !isValidServerName(serverName)) {
    throw new ConfigError(`server_name ${JSON.stringify(serverName)} is not a valid Matrix server name`);
  }
  const dataDir = pick<string>(env.data_dir, file.data_dir) ?? "./data";
  if (typeof dataDir !== "string") throw new ConfigError("data_dir must be a path");
  const database = pick<string>(env.database, file.database) ?? `${dataDir}/myelin.db`;
  if (typeof database !== "string" || database.length === 0)
    throw new ConfigError("database must be a path or URL");

  // Open registration is the default only while nobody but this machine can reach the server.
  const registration =
    pick<string>(env.registration, file.registration) ?? (isLoopbackOnly(host) ? "open" : "token");
  if (registration !== "open" && registration !== "token" && registration !== "closed") {
    throw new ConfigError(`registration must be open, token or closed, not ${JSON.stringify(registration)}`);
  }
  const tokens = pick<unknown>(env.registration_tokens, file.registration_tokens) ?? [];
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string" && t.length > 0)) {
    throw new ConfigError("registration_tokens must be a list of non-empty strings");
  }
  const logLevel = pick<string>(env.log_level, file.log_level) ?? "info";
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    throw new ConfigError(`log_level ${JSON.stringify(logLevel)} is not a pino level`);
  }
  return {
    listen: { host, port },
    serverName,
    database,
    dataDir,
    registration,
    registrationTokens: tokens as string[],
    limits: {
      maxBodyBytes: positiveInteger(
        pick(env.limits?.max_body_bytes, file.limits?.max_body_bytes) ?? 1_048_576,
        "limits.max_body_bytes",
      ),
      requestsPerSecond: positiveInteger(
        pick(env.limits?.requests_per_second, file.limits?.requests_per_second) ?? 50,
        "limits.requests_per_second",
      ),
      requestBurst: positiveInteger(
        pick(env.limits?.request_burst, file.limits?.request_burst) ?? 200,
        "limits.request_burst",
      ),
      bodyTimeoutMs: positiveInteger(
        pick(env.limits?.body_timeout_ms, file.limits?.body_timeout_ms) ?? 20_000,
        "limits.body_timeout_ms",
      ),
    },
    logLevel: logLevel as ServerConfig["logLevel"],
    federation: federationConfig(env.federation ?? {}, file.federation ?? {}, host),
    auth: authConfig(env.auth ?? {}, file.auth ?? {}),
    ...optionalPath("clock_offset_file", pick(env.clock_offset_file, file.clock_offset_file)),
    retention: retentionConfig(env.retention ?? {}, file.retention ?? {}),
  };
}

function optionalPath(name: string, value: unknown): { clockOffsetFile?: string } {
  if (value === undefined) return {};
  if (typeof value !== "string" || value.length === 0) throw new ConfigError(`${name} must be a path`);
  return { clockOffsetFile: value };
}

type RawAuth = NonNullable<RawConfig["auth"]>;

function authConfig(env: RawAuth, file: RawAuth): AuthConfig {
  const integer = (key: keyof RawAuth, fallback: number, max?: number) =>
    positiveInteger(pick(env[key], file[key]) ?? fallback, `auth.${key}`, max);
  return {
    attemptsPerMinute: integer("attempts_per_minute", 30),
    attemptBurst: integer("attempt_burst", 10),
    failuresPerMinute: integer("failures_per_minute", 6),
    failureBurst: integer("failure_burst", 5),
    hashWorkers: integer("hash_workers", 1, 64),
    hashQueue: integer("hash_queue", 64),
  };
}

type RawFederation = NonNullable<RawConfig["federation"]>;

function federationConfig(env: RawFederation, file: RawFederation, listenHost: string): FederationConfig {
  const pins = pick<unknown>(env.pins, file.pins) ?? {};
  if (typeof pins !== "object" || pins === null || Array.isArray(pins)) {
    throw new ConfigError("federation.pins must map server names to base URLs");
  }
  for (const [name, url] of Object.entries(pins)) {
    if (!isValidServerName(name))
      throw new ConfigError(`federation.pins: ${JSON.stringify(name)} is not a server name`);
    if (typeof url !== "string" || !isBaseUrl(url)) {
      throw new ConfigError(
        `federation.pins.${name} must be an http:// or https:// URL with no path, not ${JSON.stringify(url)}`,
      );
    }
  }
  const allowPlainHttp = pick<string>(env.allow_plain_http, file.allow_plain_http) ?? "loopback";
  if (allowPlainHttp !== "off" && allowPlainHttp !== "loopback" && allowPlainHttp !== "any") {
    throw new ConfigError(
      `federation.allow_plain_http must be off, loopback or any, not ${JSON.stringify(allowPlainHttp)}`,
    );
  }
  const path = (value: unknown, name: string): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== "string" || value.length === 0)
      throw new ConfigError(`federation.${name} must be a path`);
    return value;
  };
  const certFile = path(pick(env.tls_cert, file.tls_cert), "tls_cert");
  const keyFile = path(pick(env.tls_key, file.tls_key), "tls_key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigError("federation.tls_cert and federation.tls_key go together");
  }
  const tlsHost = pick<string>(env.host, file.host) ?? listenHost;
  if (typeof tlsHost !== "string" || tlsHost.length === 0)
    throw new ConfigError("federation.host must be a host name or address");
  const tlsPort = positiveInteger(pick(env.port, file.port) ?? 8448, "federation.port", 65_535);
  const caFile = path(pick(env.ca_file, file.ca_file), "ca_file");
  const integer = (key: keyof RawFederation, fallback: number) =>
    positiveInteger(pick(env[key], file[key]) ?? fallback, `federation.${key}`);
  const retryInitialMs = integer("retry_initial_ms", 1_000);
  const retryMaxMs = integer("retry_max_ms", 3_600_000);
  if (retryMaxMs < retryInitialMs)
    throw new ConfigError("federation.retry_max_ms must be at least retry_initial_ms");
  return {
    pins: pins as Record<string, string>,
    allowPlainHttp,
    ...(certFile !== undefined && keyFile !== undefined
      ? { tls: { certFile, keyFile, host: tlsHost, port: tlsPort } }
      : {}),
    ...(caFile !== undefined ? { caFile } : {}),
    requestsPerSecond: integer("requests_per_second", 1_000),
    requestBurst: integer("request_burst", 5_000),
    maxBodyBytes: integer("max_body_bytes", 16_777_216),
    retryInitialMs,
    retryMaxMs,
    unauthenticatedRequestsPerSecond: integer("unauthenticated_requests_per_second", 10),
    unauthenticatedRequestBurst: integer("unauthenticated_request_burst", 50),
    keyFetchesPerSecond: integer("key_fetches_per_second", 10),
    keyFetchBurst: integer("key_fetch_burst", 100),
    probeIntervalMs: integer("probe_interval_ms", 4_000),
    ...privateAddresses(env, file),
  };
}

function privateAddresses(
  env: RawFederation,
  file: RawFederation,
): Pick<FederationConfig, "allowPrivateAddresses" | "privateAddressAllowlist"> {
  const allow = pick<unknown>(env.allow_private_addresses, file.allow_private_addresses) ?? false;
  if (typeof allow !== "boolean") {
    throw new ConfigError(
      `federation.allow_private_addresses must be true or false, not ${JSON.stringify(allow)}`,
    );
  }
  const allowlist = pick<unknown>(env.private_address_allowlist, file.private_address_allowlist) ?? [];
  if (
    !Array.isArray(allowlist) ||
    !allowlist.every((entry) => typeof entry === "string" && parseCidr(entry))
  ) {
    throw new ConfigError(
      "federation.private_address_allowlist must be a list of CIDR networks such as 10.1.0.0/16 or fd00::/8",
    );
  }
  return { allowPrivateAddresses: allow, privateAddressAllowlist: allowlist as string[] };
}

/** `address/prefix` with a prefix length that fits the address family; undefined otherwise. */
export function parseCidr(
  text: string,
): { address: string; prefix: number; family: "ipv4" | "ipv6" } | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (match === null) return undefined;
  const address = match[1] as string;
  const version = isIP(address);
  const prefix = Number(match[2]);
  if (version === 0 || prefix > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix, family: version === 4 ? "ipv4" : "ipv6" };
}

function isBaseUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (
      (url.protocol === "http:" || url.protocol === "https:") &&
      (url.pathname === "/" || url.pathname === "") &&
      url.search === "" &&
      url.hash === "" &&
      url.username === "" &&
      url.password === ""
    );
  } catch {
    return false;
  }
}

// ---- retention: bounds of the to-device inbox, and how long metadata is kept (docs/privacy.md).

export interface RetentionConfig {
  /** Pending to-device messages per device; beyond it the oldest non-Welcome ones are dropped. */
  readonly toDeviceMaxPending: number;
  /** Bytes of pending to-device message contents per device, likewise. */
  readonly toDeviceMaxPendingBytes: number;
  /** Age after which an undelivered to-device message (not a Welcome) is deleted. */
  readonly toDeviceMaxAgeMs: number;
  /** Age after which an undelivered Welcome is deleted: the key package it used has expired. */
  readonly welcomeMaxAgeMs: number;
  /** How long transaction IDs (client and federation) are kept to answer retries. */
  readonly txnMaxAgeMs: number;
  /** How long device list changes are kept for /sync and /keys/changes. */
  readonly deviceListChangesMaxAgeMs: number;
  /** How often the pruning job runs. */
  readonly pruneIntervalMs: number;
}

const RETENTION_KEYS = {
  to_device_max_pending: ["toDeviceMaxPending", 1_000],
  to_device_max_pending_bytes: ["toDeviceMaxPendingBytes", 16_777_216],
  to_device_max_age_ms: ["toDeviceMaxAgeMs", 7 * 86_400_000],
  // ts-mls key packages live 15.2 days by default (1,314,000 s after creation).
  welcome_max_age_ms: ["welcomeMaxAgeMs", 16 * 86_400_000],
  txn_max_age_ms: ["txnMaxAgeMs", 86_400_000],
  device_list_changes_max_age_ms: ["deviceListChangesMaxAgeMs", 30 * 86_400_000],
  prune_interval_ms: ["pruneIntervalMs", 60_000],
} as const satisfies Record<string, readonly [keyof RetentionConfig, number]>;

type RawRetention = { -readonly [K in keyof typeof RETENTION_KEYS]?: unknown };

function retentionFromEnv(
  env: NodeJS.ProcessEnv,
  number: (value: string | undefined) => number | undefined,
): RawRetention {
  const raw: RawRetention = {};
  for (const key of Object.keys(RETENTION_KEYS) as (keyof RawRetention)[]) {
    raw[key] = number(env[`MYELIN_RETENTION_${key.toUpperCase()}`]);
  }
  return raw;
}

function retentionConfig(env: RawRetention, file: RawRetention): RetentionConfig {
  const config = {} as Record<keyof RetentionConfig, number>;
  for (const [key, [field, fallback]] of Object.entries(RETENTION_KEYS)) {
    const name = key as keyof RawRetention;
    config[field] = positiveInteger(pick(env[name], file[name]) ?? fallback, `retention.${key}`);
  }
  return config;
}
