// Server discovery (server-server API, "Resolving server names"): from a server name to the
// address, Host header and certificate name of its federation endpoint. Pins from the
// configuration come first (tests and dev:federation pin names to loopback addresses).
import { promises as dns, type SrvRecord } from "node:dns";
import { isIP } from "node:net";
import { parseServerName } from "../../../protocol/serverName.js";
import type { Clock } from "../../clock.js";
import type { HttpTarget } from "./httpTransport.js";
import type { WellKnownLookup } from "./wellKnown.js";

const DEFAULT_PORT = 8448;
const CACHE_MS = 10 * 60_000;
const MAX_ENTRIES = 10_000;

/** SRV records of a name; empty when there are none. Injectable for tests. */
export type SrvResolver = (name: string) => Promise<SrvRecord[]>;

export class ServerNameError extends Error {
  override readonly name = "ServerNameError";
}

export interface ServerResolver {
  /** Throws ServerNameError when `serverName` is not a valid server name. */
  resolve(serverName: string): Promise<HttpTarget>;
}

export interface ServerResolverOptions {
  readonly pins: Readonly<Record<string, string>>;
  readonly wellKnown: WellKnownLookup;
  readonly clock: Clock;
  readonly resolveSrv?: SrvResolver;
}

export function createServerResolver(options: ServerResolverOptions): ServerResolver {
  const resolveSrv = options.resolveSrv ?? systemSrv;
  const cache = new Map<string, { target: HttpTarget; expires: number }>();
  return {
    resolve: async (serverName) => {
      // Own entries only: a name from a request may be `constructor` (issue 9).
      const pin = Object.hasOwn(options.pins, serverName) ? options.pins[serverName] : undefined;
      if (pin !== undefined) {
        const url = new URL(pin);
        return { url: url.origin, hostHeader: url.host, pinned: true };
      }
      const now = options.clock.now();
      const cached = cache.get(serverName);
      if (cached !== undefined && cached.expires > now) return cached.target;
      const target = await discover(serverName, options.wellKnown, resolveSrv);
      if (cache.size >= MAX_ENTRIES) cache.clear();
      cache.set(serverName, { target, expires: now + CACHE_MS });
      return target;
    },
  };
}

async function discover(
  serverName: string,
  wellKnown: WellKnownLookup,
  resolveSrv: SrvResolver,
): Promise<HttpTarget> {
  const parsed = parseServerName(serverName);
  if (parsed === undefined)
    throw new ServerNameError(`${JSON.stringify(serverName)} is not a valid server name`);
  const { host, port } = parsed;
  // Steps 1 and 2: an IP literal, or a hostname with an explicit port, is used as it is.
  if (isIpLiteral(host)) return { url: `https://${host}:${port ?? DEFAULT_PORT}`, hostHeader: serverName };
  if (port !== undefined)
    return { url: `https://${host}:${port}`, hostHeader: serverName, tlsServerName: host };
  // Step 3: .well-known delegation, then the same steps for the delegated name.
  const delegated = await wellKnown(host);
  if (delegated !== undefined) {
    const target = parseServerName(delegated);
    if (target !== undefined) {
      if (isIpLiteral(target.host)) {
        return { url: `https://${target.host}:${target.port ?? DEFAULT_PORT}`, hostHeader: delegated };
      }
      if (target.port !== undefined) {
        return {
          url: `https://${target.host}:${target.port}`,
          hostHeader: delegated,
          tlsServerName: target.host,
        };
      }
      return (await srvTarget(target.host, resolveSrv)) ?? defaultTarget(target.host);
    }
  }
  // Steps 4 to 6: SRV records of the name itself, then port 8448.
  return (await srvTarget(host, resolveSrv)) ?? defaultTarget(host);
}

/** `_matrix-fed._tcp` first, then the deprecated `_matrix._tcp`; the certificate is for `host`. */
async function srvTarget(host: string, resolveSrv: SrvResolver): Promise<HttpTarget | undefined> {
  for (const service of ["_matrix-fed._tcp", "_matrix._tcp"]) {
    const record = pickSrv(await srvRecords(`${service}.${host}`, resolveSrv));
    if (record !== undefined) {
      const address = isIP(record.name) === 6 ? `[${record.name}]` : record.name;
      return { url: `https://${address}:${record.port}`, hostHeader: host, tlsServerName: host };
    }
  }
  return undefined;
}

async function srvRecords(name: string, resolveSrv: SrvResolver): Promise<SrvRecord[]> {
  try {
    return await resolveSrv(name);
  } catch {
    return []; // no records, or DNS trouble: discovery goes on to the next step
  }
}

/** Lowest priority, then highest weight; a target of "." means the service is not offered. */
function pickSrv(records: readonly SrvRecord[]): SrvRecord | undefined {
  const usable = records.filter((record) => record.name !== "." && record.name !== "" && record.port > 0);
  usable.sort((a, b) => a.priority - b.priority || b.weight - a.weight);
  return usable[0];
}

function defaultTarget(host: string): HttpTarget {
  return { url: `https://${host}:${DEFAULT_PORT}`, hostHeader: host, tlsServerName: host };
}

function isIpLiteral(host: string): boolean {
  return isIP(host.replace(/^\[|\]$/g, "")) !== 0;
}

const systemSrv: SrvResolver = (name) => dns.resolveSrv(name);
