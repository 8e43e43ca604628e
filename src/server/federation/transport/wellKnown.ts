// `GET https://<hostname>/.well-known/matrix/server` (server-server API, "Resolving server
// names", step 3): the delegated server name, cached as the spec asks (Cache-Control, else 24 h,
// at most 48 h; failures for 10 minutes), redirects followed up to a limit, a short timeout.
import { isIP } from "node:net";
import { isValidServerName } from "../../../protocol/serverName.js";
import type { Clock } from "../../clock.js";
import { TransportError, type HttpTransport } from "./httpTransport.js";

const DEFAULT_CACHE_MS = 24 * 3_600_000;
const MAX_CACHE_MS = 48 * 3_600_000;
const FAILURE_CACHE_MS = 10 * 60_000;
const MAX_REDIRECTS = 5;
const TIMEOUT_MS = 10_000;
const MAX_BYTES = 64 * 1024;
const MAX_ENTRIES = 10_000;

/** The delegated server name of `hostname`, or undefined when it has no (usable) well-known. */
export type WellKnownLookup = (hostname: string) => Promise<string | undefined>;

export interface WellKnownOptions {
  readonly transport: HttpTransport;
  readonly clock: Clock;
  /** Where the file of `hostname` is; tests point it at a loopback server. */
  readonly url?: (hostname: string) => string;
  readonly timeoutMs?: number;
}

export function createWellKnownLookup(options: WellKnownOptions): WellKnownLookup {
  const urlOf = options.url ?? ((hostname: string) => `https://${hostname}/.well-known/matrix/server`);
  const cache = new Map<string, { value: string | undefined; expires: number }>();
  return async (hostname) => {
    const now = options.clock.now();
    const cached = cache.get(hostname);
    if (cached !== undefined && cached.expires > now) return cached.value;
    const { value, cacheMs } = await fetchWellKnown(
      options.transport,
      urlOf(hostname),
      options.timeoutMs ?? TIMEOUT_MS,
    );
    if (cache.size >= MAX_ENTRIES) cache.clear();
    cache.set(hostname, { value, expires: now + cacheMs });
    return value;
  };
}

async function fetchWellKnown(
  transport: HttpTransport,
  first: string,
  timeoutMs: number,
): Promise<{ value: string | undefined; cacheMs: number }> {
  const failure = { value: undefined, cacheMs: FAILURE_CACHE_MS };
  let url = new URL(first);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let response;
    try {
      response = await transport.send(
        {
          url: url.origin,
          hostHeader: url.host,
          ...(isIP(url.hostname.replace(/^\[|\]$/g, "")) === 0 ? { tlsServerName: url.hostname } : {}),
        },
        {
          method: "GET",
          path: url.pathname + url.search,
          timeoutMs,
          maxResponseBytes: MAX_BYTES,
        },
      );
    } catch (error) {
      if (error instanceof TransportError) return failure;
      throw error;
    }
    const location = response.headers.location;
    if ([301, 302, 303, 307, 308].includes(response.status) && location !== undefined) {
      url = new URL(location, url);
      if (url.protocol !== "https:" && url.protocol !== "http:") return failure;
      continue;
    }
    if (response.status !== 200) return failure;
    const delegated = delegatedName(response.body);
    if (delegated === undefined) return failure;
    return { value: delegated, cacheMs: cacheLifetime(response.headers["cache-control"]) };
  }
  return failure;
}

/** Whatever the Content-Type, the body is read as JSON; `m.server` must be a valid server name. */
function delegatedName(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    const name = (parsed as { "m.server"?: unknown } | null)?.["m.server"];
    return typeof name === "string" && isValidServerName(name) ? name : undefined;
  } catch {
    return undefined;
  }
}

function cacheLifetime(cacheControl: string | undefined): number {
  if (cacheControl === undefined) return DEFAULT_CACHE_MS;
  if (/(^|,)\s*(no-store|no-cache)\s*(,|$)/i.test(cacheControl)) return 0;
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return maxAge === null ? DEFAULT_CACHE_MS : Math.min(Number(maxAge[1]) * 1000, MAX_CACHE_MS);
}
