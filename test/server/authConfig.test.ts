// The auth options of the configuration (docs/configuration.md): defaults, the environment, and
// refusals of values that cannot work.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/server/config.js";

describe("auth options", () => {
  it("default to per-address and per-name limits and one hashing worker with a queue of 64", () => {
    expect(loadConfig({ env: {} }).auth).toEqual({
      attemptsPerMinute: 30,
      attemptBurst: 10,
      failuresPerMinute: 6,
      failureBurst: 5,
      hashWorkers: 1,
      hashQueue: 64,
    });
  });

  it("read the config file, with the environment taking precedence", () => {
    const dir = mkdtempSync(join(tmpdir(), "myelin-config-"));
    try {
      const file = join(dir, "myelin.yaml");
      writeFileSync(file, "auth:\n  hash_workers: 2\n  failure_burst: 9\n");
      const { auth } = loadConfig({ file, env: { MYELIN_AUTH_HASH_WORKERS: "3" } });
      expect([auth.hashWorkers, auth.failureBurst]).toEqual([3, 9]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a hashing pool without workers", () => {
    expect(() => loadConfig({ env: { MYELIN_AUTH_HASH_WORKERS: "0" } })).toThrow(ConfigError);
  });
});
