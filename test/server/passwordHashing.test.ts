// Defect 3: password hashing must not run on libuv's thread pool, which the SQLite fsync of every
// write needs; and its queue is bounded.
import { afterEach, describe, expect, it } from "vitest";
import { blockLibuvPool } from "../helpers/libuvPool.js";
import { HashQueueFull, PasswordHasher } from "../../src/server/auth/passwords.js";

describe("password hashing", () => {
  let hasher: PasswordHasher | undefined;
  afterEach(async () => {
    await hasher?.close();
    hasher = undefined;
  });

  it("verifies the right password and refuses a wrong one", async () => {
    hasher = new PasswordHasher({ workers: 1, queue: 4 });
    const stored = await hasher.hash("correct horse");
    expect(stored).toMatch(/^scrypt\$/);
    expect(await hasher.verify("correct horse", stored)).toBe(true);
    expect(await hasher.verify("wrong horse", stored)).toBe(false);
  });

  it("hashes while every thread of libuv's pool is busy (it does not run there)", async () => {
    hasher = new PasswordHasher({ workers: 1, queue: 4 });
    const release = await blockLibuvPool();
    try {
      const outcome = await Promise.race([
        hasher.hash("while the pool is blocked").then(() => "hashed"),
        new Promise((resolve) => setTimeout(() => resolve("stuck behind the pool"), 10_000)),
      ]);
      expect(outcome).toBe("hashed");
    } finally {
      await release();
    }
  });

  it("refuses hashes beyond the bounded queue with HashQueueFull and a retry delay", async () => {
    hasher = new PasswordHasher({ workers: 1, queue: 2 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => hasher?.hash(`password ${i}`)),
    );
    // One on the worker, two waiting; the other five are refused at once.
    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(3);
    const refused = outcomes.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason] : []));
    expect(refused).toHaveLength(5);
    for (const error of refused) {
      expect(error).toBeInstanceOf(HashQueueFull);
      expect((error as HashQueueFull).retryAfterMs).toBeGreaterThan(0);
    }
  });
});
