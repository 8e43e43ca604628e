// The X-Matrix Authorization scheme (server-server API, "Request Authentication"): the origin
// signs the JSON {method, uri, origin, destination, content?} with its federation key and sends
// `Authorization: X-Matrix origin="...",destination="...",key="ed25519:...",sig="..."`.
import type { Ed25519Signer } from "../../../protocol/crypto.js";
import { signJson, type Signatures } from "../../../protocol/signedJson.js";

export interface XMatrixCredentials {
  readonly origin: string;
  readonly destination?: string;
  readonly key: string;
  readonly sig: string;
}

export interface SignedRequest {
  readonly method: string;
  /** Path and query as sent on the request line, starting with /_matrix/. */
  readonly uri: string;
  readonly origin: string;
  readonly destination: string;
  /** The parsed JSON body; absent when the request has none. */
  readonly content?: unknown;
}

/** The object whose canonical JSON the X-Matrix signature covers. */
export function requestJson(request: SignedRequest): Record<string, unknown> {
  const json: Record<string, unknown> = {
    method: request.method,
    uri: request.uri,
    origin: request.origin,
    destination: request.destination,
  };
  if (request.content !== undefined) json.content = request.content;
  return json;
}

/** The Authorization header value for `request`, signed by `signer`. */
export function xMatrixAuthorization(request: SignedRequest, signer: Ed25519Signer): string {
  const signed = signJson(requestJson(request), request.origin, signer);
  const sig = (signed.signatures as Signatures)[request.origin]?.[signer.keyId] as string;
  const params = { origin: request.origin, destination: request.destination, key: signer.keyId, sig };
  return `X-Matrix ${Object.entries(params)
    .map(([name, value]) => `${name}=${quote(value)}`)
    .join(",")}`;
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/**
 * Reads an X-Matrix Authorization header: the scheme (case-insensitive), then comma-separated
 * `name=value` parameters whose values are tokens or quoted strings (RFC 9110 auth-params).
 * Undefined when the scheme is another one, the syntax is broken, or origin, key or sig is missing.
 */
export function parseXMatrix(header: string): XMatrixCredentials | undefined {
  const scheme = /^X-Matrix\s+/i.exec(header);
  if (scheme === null) return undefined;
  const params = new Map<string, string>();
  let rest = header.slice(scheme[0].length);
  while (rest.length > 0) {
    const name = /^\s*([A-Za-z0-9_-]+)\s*=\s*/.exec(rest);
    if (name === null) return undefined;
    rest = rest.slice(name[0].length);
    let value: string;
    if (rest.startsWith('"')) {
      const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
      if (quoted === null) return undefined;
      value = (quoted[1] as string).replace(/\\(.)/g, "$1");
      rest = rest.slice(quoted[0].length);
    } else {
      const token = /^[^\s,"]+/.exec(rest);
      if (token === null) return undefined;
      value = token[0];
      rest = rest.slice(token[0].length);
    }
    const key = (name[1] as string).toLowerCase();
    if (params.has(key)) return undefined;
    params.set(key, value);
    const separator = /^\s*(,|$)/.exec(rest);
    if (separator === null) return undefined;
    rest = rest.slice(separator[0].length);
  }
  const origin = params.get("origin");
  const key = params.get("key");
  const sig = params.get("sig");
  if (origin === undefined || key === undefined || sig === undefined) return undefined;
  const destination = params.get("destination");
  return { origin, key, sig, ...(destination !== undefined ? { destination } : {}) };
}
