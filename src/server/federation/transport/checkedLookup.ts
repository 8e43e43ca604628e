// The DNS lookup of outbound federation connections: a name is resolved here, every address it
// resolves to is checked (address policy, plain-HTTP policy), and only checked addresses are
// handed to the socket, so the address connected to is one that was checked (a name cannot
// smuggle in another address, and DNS rebinding between check and connect is impossible).
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import type { LookupFunction } from "node:net";
import type { AddressCheck } from "./addressPolicy.js";

/** The first refusal of `address` by `checks`, if any. */
export function refusal(checks: readonly AddressCheck[], address: string): Error | undefined {
  for (const check of checks) {
    const refused = check(address);
    if (refused !== undefined) return refused;
  }
  return undefined;
}

/**
 * A lookup for net.connect that answers only addresses all `checks` accept; when a name resolves
 * to none, it fails with the refusal of the first address.
 */
export function checkedLookup(checks: readonly AddressCheck[]): LookupFunction {
  return ((
    hostname: string,
    options: LookupOptions,
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const accepted = addresses.filter((entry) => refusal(checks, entry.address) === undefined);
      if (accepted.length === 0) {
        const first = addresses[0];
        const why = first === undefined ? undefined : refusal(checks, first.address);
        return callback(why ?? new Error(`${hostname} resolves to no address`), []);
      }
      if (options.all) return callback(null, accepted);
      const chosen = accepted[0] as LookupAddress;
      callback(null, chosen.address, chosen.family);
    });
  }) as unknown as LookupFunction;
}
