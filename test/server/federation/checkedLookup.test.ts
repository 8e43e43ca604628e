// Names of other servers come from strangers (an X-Matrix origin, a .well-known answer). They are
// resolved without libuv's thread pool, which the SQLite fdatasync of every write needs: a slow
// nameserver of an attacker's must not stall other users' sends (issue 9, defect 7's follow-up).
import { afterEach, describe, expect, it } from "vitest";
import { checkedLookup, resolveAddresses } from "../../../src/server/federation/transport/checkedLookup.js";
import { blockLibuvPool } from "../../helpers/libuvPool.js";

function lookup(hostname: string): Promise<{ error: Error | null; addresses: unknown }> {
  return new Promise((resolve) =>
    checkedLookup([])(hostname, { all: true }, (error, addresses) => resolve({ error, addresses })),
  );
}

describe("federation name lookup", () => {
  let unblock: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await unblock?.();
    unblock = undefined;
  });

  it("answers while every thread of libuv's pool is busy (it does not use getaddrinfo)", async () => {
    unblock = await blockLibuvPool();
    const answered = await Promise.race([
      lookup("myelin-test.invalid").then(() => "answered"),
      new Promise((resolve) => setTimeout(() => resolve("stalled"), 7_000)),
    ]);
    expect(answered).toBe("answered");
  });

  it("resolves localhost to the loopback addresses (RFC 6761), which the address policy then judges", async () => {
    expect(await resolveAddresses("localhost")).toEqual([
      { address: "127.0.0.1", family: 4 },
      { address: "::1", family: 6 },
    ]);
  });

  it("answers an IP literal as itself", async () => {
    expect(await resolveAddresses("192.0.2.7")).toEqual([{ address: "192.0.2.7", family: 4 }]);
  });

  it("fails for a name that does not exist", async () => {
    const { error } = await lookup("myelin-test.invalid");
    expect(error).not.toBeNull();
  });
});
