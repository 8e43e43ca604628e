// The federation options of the configuration (docs/configuration.md): defaults, pins from the
// environment, and refusals of values that cannot work.
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../../src/server/config.js";

const load = (env: Record<string, string>) => loadConfig({ env });

describe("federation options", () => {
  it("defaults to plain HTTP on loopback only, no TLS listener, generous per-origin limits", () => {
    const { federation, clockOffsetFile } = load({});
    expect(federation).toEqual({
      pins: {},
      allowPlainHttp: "loopback",
      requestsPerSecond: 1_000,
      requestBurst: 5_000,
      maxBodyBytes: 16_777_216,
      retryInitialMs: 1_000,
      retryMaxMs: 3_600_000,
      unauthenticatedRequestsPerSecond: 10,
      unauthenticatedRequestBurst: 50,
      keyFetchesPerSecond: 10,
      keyFetchBurst: 100,
      probeIntervalMs: 4_000,
      allowPrivateAddresses: false,
      privateAddressAllowlist: [],
    });
    expect(clockOffsetFile).toBeUndefined();
  });

  it("gives a request's headers and body 20 s to arrive by default (limits.body_timeout_ms)", () => {
    expect(load({}).limits.bodyTimeoutMs).toBe(20_000);
    expect(load({ MYELIN_BODY_TIMEOUT_MS: "1500" }).limits.bodyTimeoutMs).toBe(1_500);
    expect(() => load({ MYELIN_BODY_TIMEOUT_MS: "0" })).toThrow(ConfigError);
  });

  it("reads pins from MYELIN_FEDERATION_PINS as name=url pairs", () => {
    const { federation } = load({
      MYELIN_FEDERATION_PINS: "a.test:8008=http://127.0.0.1:8008, b.test=https://b.example:443",
    });
    expect(federation.pins).toEqual({
      "a.test:8008": "http://127.0.0.1:8008",
      "b.test": "https://b.example:443",
    });
  });

  it("opens the TLS listener on port 8448 of the listen host when a certificate and key are set", () => {
    const { federation } = load({
      MYELIN_FEDERATION_TLS_CERT: "/c.pem",
      MYELIN_FEDERATION_TLS_KEY: "/k.pem",
    });
    expect(federation.tls).toEqual({ certFile: "/c.pem", keyFile: "/k.pem", host: "127.0.0.1", port: 8448 });
  });

  it.each([
    ["an unknown plain HTTP policy", { MYELIN_FEDERATION_ALLOW_PLAIN_HTTP: "sometimes" }],
    ["a pin that is not a base URL", { MYELIN_FEDERATION_PINS: "a.test=http://127.0.0.1:8008/path" }],
    ["a pin for an invalid server name", { MYELIN_FEDERATION_PINS: "bad name=http://127.0.0.1:8008" }],
    ["a pin without a scheme", { MYELIN_FEDERATION_PINS: "a.test=127.0.0.1:8008" }],
    ["a certificate without a key", { MYELIN_FEDERATION_TLS_CERT: "/c.pem" }],
    ["a retry maximum below the first delay", { MYELIN_FEDERATION_RETRY_MAX_MS: "10" }],
    ["a zero burst", { MYELIN_FEDERATION_REQUEST_BURST: "0" }],
  ])("refuses %s", (_what, env) => {
    expect(() => load(env)).toThrow(ConfigError);
  });

  it("takes MYELIN_CLOCK_OFFSET_FILE", () => {
    expect(load({ MYELIN_CLOCK_OFFSET_FILE: "/tmp/offset" }).clockOffsetFile).toBe("/tmp/offset");
  });
});
