// The DNS lookup of outbound federation connections: a name is resolved here, every address it
// resolves to is checked (address policy, plain-HTTP policy), and only checked addresses are
// handed to the socket, so the address connected to is one that was checked (a name cannot
// smuggle in another address, and DNS rebinding between check and connect is impossible).
//
// Names are resolved with c-ares (dns.Resolver), not getaddrinfo (dns.lookup): getaddrinfo runs
// on libuv's thread pool, which the SQLite fdatasync of every write needs, and the names come
// from strangers (an X-Matrix origin, a .well-known answer). A slow nameserver of theirs would
// otherwise hold pool threads and stall every user's sends. So /etc/hosts is not read, except
// for `localhost` (RFC 6761: always loopback); pin a peer that only /etc/hosts knows.
import { Resolver, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import type { AddressCheck } from "./addressPolicy.js";

/** How long one DNS question may take, and how often it is asked, before the lookup fails. */
const DNS_TIMEOUT_MS = 3_000;
const DNS_TRIES = 2;

const resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });

function resolveWith(
  resolve: (name: string, done: (error: Error | null, addresses: string[]) => void) => void,
  hostname: string,
): Promise<string[]> {
  return new Promise((ok, fail) =>
    resolve(hostname, (error, addresses) => (error ? fail(error) : ok(addresses))),
  );
}

/** Every IPv4 and IPv6 address of `hostname`, without libuv's thread pool. */
export async function resolveAddresses(hostname: string): Promise<LookupAddress[]> {
  const family = isIP(hostname);
  if (family !== 0) return [{ address: hostname, family }];
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost"))
    return [
      { address: "127.0.0.1", family: 4 },
      { address: "::1", family: 6 },
    ];
  const [v4, v6] = await Promise.allSettled([
    resolveWith((n, done) => resolver.resolve4(n, done), name),
    resolveWith((n, done) => resolver.resolve6(n, done), name),
  ]);
  const addresses: LookupAddress[] = [
    ...(v4.status === "fulfilled" ? v4.value.map((address) => ({ address, family: 4 })) : []),
    ...(v6.status === "fulfilled" ? v6.value.map((address) => ({ address, family: 6 })) : []),
  ];
  if (addresses.length === 0 && v4.status === "rejected") throw v4.reason;
  return addresses;
}

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
    const answer = (addresses: LookupAddress[]): void => {
      const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
      addresses = wanted === undefined ? addresses : addresses.filter((entry) => entry.family === wanted);
      const accepted = addresses.filter((entry) => refusal(checks, entry.address) === undefined);
      if (accepted.length === 0) {
        const first = addresses[0];
        const why = first === undefined ? undefined : refusal(checks, first.address);
        return callback(why ?? new Error(`${hostname} resolves to no address`), []);
      }
      if (options.all) return callback(null, accepted);
      const chosen = accepted[0] as LookupAddress;
      callback(null, chosen.address, chosen.family);
    };
    resolveAddresses(hostname).then(answer, (error: Error) => callback(error, []));
  }) as unknown as LookupFunction;
}
