// `federation.allow_plain_http`: plain HTTP carries federation requests unencrypted, so it is
// allowed only where nobody else can listen: loopback addresses (the default, for tests and
// `npm run dev:federation`), nowhere ("off"), or, when an operator insists, anywhere ("any").
import { BlockList, isIP } from "node:net";
import type { PlainHttpPolicy } from "../../config.js";
import type { AddressCheck } from "./addressPolicy.js";

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
 * What a plain HTTP connection to `host` must pass under `policy`: nothing ("any"), or loopback
 * addresses only, checked on each address a name resolves to (checkedLookup.ts). Throws
 * PlainHttpRefused when the policy forbids plain HTTP outright.
 */
export function plainHttpCheck(policy: PlainHttpPolicy, host: string): AddressCheck | undefined {
  if (policy === "any") return undefined;
  if (policy === "off") {
    throw new PlainHttpRefused(`plain HTTP to ${host} is not allowed (federation.allow_plain_http is off)`);
  }
  return (address) =>
    isLoopbackAddress(address)
      ? undefined
      : new PlainHttpRefused(
          address === host
            ? `plain HTTP to ${host} is not allowed: only to loopback addresses (federation.allow_plain_http)`
            : `plain HTTP to ${host} is not allowed: it resolves to ${address}, not a loopback address (federation.allow_plain_http)`,
        );
}
