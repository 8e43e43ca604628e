// Issue 9 in server discovery: a server name from a request (a user ID's server part) that names
// a property of Object.prototype (constructor, toString, ...) is not a pin; it is discovered like
// any other name instead of reading the inherited function as a base URL.
import { describe, expect, it } from "vitest";
import { createServerResolver } from "../../../src/server/federation/transport/discovery.js";

const resolver = createServerResolver({
  pins: {},
  wellKnown: async () => undefined,
  clock: { now: () => Date.now() },
  resolveSrv: async () => [],
});

describe("server discovery and inherited names", () => {
  for (const name of ["constructor", "toString", "valueOf", "hasOwnProperty"]) {
    it(`does not take Object.prototype.${name} for a pin of the server ${name}`, async () => {
      expect(await resolver.resolve(name)).toEqual({
        url: `https://${name}:8448`,
        hostHeader: name,
        tlsServerName: name,
      });
    });
  }
});
