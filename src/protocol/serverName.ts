// The Matrix server-name grammar (spec appendix "Server Name"), checked strictly: every entry of
// `servers`, `powers` and `can_propose` and every `origin` must match it (section 3, R9.5, R9.6).

export interface ParsedServerName {
  /** The hostname as written: a DNS name, an IPv4 literal, or an IPv6 literal with its brackets. */
  readonly host: string;
  readonly port?: number;
}

export const MAX_SERVER_NAME_LENGTH = 255;

const DIGITS = /^[0-9]{1,5}$/;
const IPV4 = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/;
const DNS_NAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;
const ENDS_IN_NUMBER = /(^|\.)[0-9]+$/;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

export function isValidServerName(name: string): boolean {
  return parseServerName(name) !== undefined;
}

/**
 * Splits a valid server name into host and optional port; undefined when the name is invalid.
 * Decisions beyond the grammar's letter: the whole name is at most 255 characters; a host whose
 * last label is all digits must be an IPv4 literal of four numbers 0-255 (a top-level DNS label
 * is never all-numeric, RFC 3696), so `256.1.1.1` and `1.2.3` are invalid rather than DNS names;
 * DNS labels are never empty (no leading, trailing or doubled dot). Leading zeros in a port or an
 * IPv4 octet are allowed, as the grammar's `1*5DIGIT` and `1*3DIGIT` allow them.
 */
export function parseServerName(name: string): ParsedServerName | undefined {
  if (name.length === 0 || name.length > MAX_SERVER_NAME_LENGTH) return undefined;
  const hostEnd = name.startsWith("[") ? name.indexOf("]") + 1 : name.indexOf(":");
  if (hostEnd === 0) return undefined;
  const host = hostEnd === -1 ? name : name.slice(0, hostEnd);
  if (!isValidHost(host)) return undefined;
  if (host.length === name.length) return { host };
  if (name[host.length] !== ":") return undefined;
  const port = parsePort(name.slice(host.length + 1));
  return port === undefined ? undefined : { host, port };
}

function isValidHost(host: string): boolean {
  if (host.startsWith("[")) return host.endsWith("]") && isIpv6Literal(host.slice(1, -1));
  if (ENDS_IN_NUMBER.test(host)) return isIpv4Literal(host);
  return DNS_NAME.test(host);
}

function parsePort(text: string): number | undefined {
  if (!DIGITS.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function isIpv4Literal(text: string): boolean {
  const octets = IPV4.exec(text);
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255);
}

/** The text forms of RFC 3513 section 2.2: eight groups, `::` once, or an IPv4 tail. */
function isIpv6Literal(text: string): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  // An IPv4 tail must end the text; it cannot sit before a trailing `::`.
  const lastGroupEndsText = !text.endsWith("::");
  let sixteenBitGroups = 0;
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i] as string;
    if (HEX_GROUP.test(group)) sixteenBitGroups += 1;
    else if (i === groups.length - 1 && lastGroupEndsText && isIpv4Literal(group)) sixteenBitGroups += 2;
    else return false;
  }
  // `::` stands for at least one group of zeros.
  return halves.length === 2 ? sixteenBitGroups <= 7 : sixteenBitGroups === 8;
}
