// Server configuration: defaults, then the config file (--config FILE, YAML or JSON), then
// MYELIN_* environment variables. docs/configuration.md lists every option.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { parse as parseYaml } from "yaml";
import { isValidServerName } from "../protocol/serverName.js";

export type RegistrationMode = "open" | "token" | "closed";

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
  };
  readonly logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
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
  limits?: { max_body_bytes?: unknown; requests_per_second?: unknown; request_burst?: unknown };
  log_level?: unknown;
}

function fromEnv(env: NodeJS.ProcessEnv): RawConfig {
  const list = (value: string | undefined) =>
    value
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));
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
    },
    log_level: env.MYELIN_LOG_LEVEL,
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
    },
    logLevel: logLevel as ServerConfig["logLevel"],
  };
}
