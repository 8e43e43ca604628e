// Which addresses outbound federation may connect to (issue 9, defect 7: blind SSRF). A server
// name comes from whoever sends a request (an X-Matrix origin, a PDU's origin), so without this
// anyone could make us connect to our own loopback, the local network or a cloud metadata
// endpoint. Private, loopback, link-local and reserved addresses are refused unless the name is
// pinned (federation.pins: tests and dev:federation) or the operator allows them
// (federation.allow_private_addresses, federation.private_address_allowlist). The check is made
// on every address a name resolves to, which is the address connected to (addressCheck.ts).
import { BlockList, isIP } from "node:net";
import { parseCidr } from "../../config.js";

const PRIVATE = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network"; 0.0.0.0 reaches the local host
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, cloud metadata endpoints
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and the broadcast address
] as const) {
  PRIVATE.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 128], // unspecified: reaches the local host
  ["::1", 128],
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // deprecated site-local
  ["ff00::", 8], // multicast
] as const) {
  PRIVATE.addSubnet(network, prefix, "ipv6");
}

/** The IPv4 address an IPv6 address carries (IPv4-mapped, IPv4-compatible, NAT64), if any. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const [high, low] = [parseInt(hex[1] as string, 16), parseInt(hex[2] as string, 16)];
  return [high >> 8, high & 255, low >> 8, low & 255].join(".");
}

/** Whether `list` holds the address `bare` (an IPv6 address carrying an IPv4 one: by that one). */
function listed(list: BlockList, bare: string): boolean {
  const v4 = isIP(bare) === 6 ? embeddedIpv4(bare) : bare;
  try {
    return v4 !== undefined ? list.check(v4, "ipv4") : list.check(bare, "ipv6");
  } catch {
    return list === PRIVATE; // an address BlockList cannot read (a zone ID): private, never allowed
  }
}

/** True for the private, loopback, link-local and reserved addresses listed above (brackets allowed). */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, "");
  return isIP(bare) !== 0 && listed(PRIVATE, bare);
}

export interface PrivateAddressSettings {
  /** Allow every private address (federation.allow_private_addresses). */
  readonly allow?: boolean;
  /** CIDR networks allowed although private (federation.private_address_allowlist). */
  readonly allowlist?: readonly string[];
}

export class AddressRefused extends Error {
  override readonly name = "AddressRefused";
}

/** Undefined when `address` may be connected to, else why not. */
export type AddressCheck = (address: string) => Error | undefined;

export function privateAddressCheck(settings: PrivateAddressSettings = {}): AddressCheck {
  if (settings.allow === true) return () => undefined;
  const allowed = new BlockList();
  for (const entry of settings.allowlist ?? []) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) throw new Error(`${JSON.stringify(entry)} is not a CIDR network`);
    allowed.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return (address) => {
    const bare = address.replace(/^\[|\]$/g, "");
    if (!isPrivateAddress(bare) || listed(allowed, bare)) return undefined;
    return new AddressRefused(
      `refusing to connect to ${bare}: a private, loopback or link-local address (federation.allow_private_addresses, federation.private_address_allowlist or a pin allow it)`,
    );
  };
}
