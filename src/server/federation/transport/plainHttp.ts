// `federation.allow_plain_http`: plain HTTP carries federation requests unencrypted, so it is
// allowed only where nobody else can listen: loopback addresses (the default, for tests and
// `npm run dev:federation`), nowhere ("off"), or, when an operator insists, anywhere ("any").
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";
import type { PlainHttpPolicy } from "../../config.js";

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses (brackets allowed). */
export function isLoopbackAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "");
  const version = isIP(bare);
  return version !== 0 && LOOPBACK.check(bare, version === 4 ? "ipv4" : "ipv6");
}

export class PlainHttpRefused extends Error {
  override readonly name = "PlainHttpRefused";
}

/**
 * How a plain HTTP connection to `host` must be made under `policy`: `undefined` when any
 * address will do, a DNS lookup that refuses non-loopback answers when only loopback is allowed
 * and `host` is a name (checked on the resolved addresses, so a name cannot smuggle in another
 * address). Throws PlainHttpRefused when the policy forbids it outright.
 */
export function plainHttpLookup(policy: PlainHttpPolicy, host: string): LookupFunction | undefined {
  if (policy === "any") return undefined;
  if (policy === "off") {
    throw new PlainHttpRefused(`plain HTTP to ${host} is not allowed (federation.allow_plain_http is off)`);
  }
  if (isIP(host.replace(/^\[|\]$/g, "")) !== 0) {
    if (isLoopbackAddress(host)) return undefined;
    throw new PlainHttpRefused(
      `plain HTTP to ${host} is not allowed: only to loopback addresses (federation.allow_plain_http)`,
    );
  }
  return loopbackOnlyLookup;
}

const loopbackOnlyLookup = ((
  hostname: string,
  options: LookupOptions,
  callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const outside = addresses.find((entry) => !isLoopbackAddress(entry.address));
    if (outside !== undefined || addresses.length === 0) {
      const refusal = new PlainHttpRefused(
        `plain HTTP to ${hostname} is not allowed: it resolves to ${outside?.address ?? "nothing"}, not a loopback address (federation.allow_plain_http)`,
      );
      return callback(refusal, []);
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
}) as unknown as LookupFunction;
