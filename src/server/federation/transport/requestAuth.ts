// Inbound X-Matrix verification: a federation request is served only when its Authorization
// header names a valid origin, this server as destination, and a key of the origin, valid now,
// whose signature covers the method, the URI as sent, both names and the JSON body. It is done in
// two steps (issue 9, defect 5): everything the header alone tells, before the body is read, so
// that nobody can make us read and hold a body without naming a peer whose key we have; then the
// signature, which covers the body.
import type { FastifyRequest } from "fastify";
import { CanonicalJsonError } from "../../../protocol/canonicalJson.js";
import type { ProtocolCrypto } from "../../../protocol/crypto.js";
import { isValidServerName } from "../../../protocol/serverName.js";
import { verifyJsonSignature } from "../../../protocol/signedJson.js";
import type { Clock } from "../../clock.js";
import { MatrixError } from "../../errors.js";
import type { RemoteKeys } from "../../federationTypes.js";
import { parseXMatrix, requestJson } from "./xMatrix.js";

export interface RequestAuthDeps {
  readonly serverName: string;
  readonly keys: RemoteKeys;
  readonly crypto: ProtocolCrypto;
  readonly clock: Clock;
}

/** What the header says, checked, with the origin's public key of the key ID it names. */
export interface CheckedHeader {
  readonly origin: string;
  readonly destination: string;
  readonly key: string;
  readonly sig: string;
  readonly publicKey: Uint8Array;
}

const KEY_ID = /^ed25519:[A-Za-z0-9_]+$/;

const unauthorized = (message: string) => new MatrixError(401, "M_UNAUTHORIZED", message);

/** The header's credentials, before the body is read; throws 401 M_UNAUTHORIZED saying what is wrong. */
export async function checkHeader(request: FastifyRequest, deps: RequestAuthDeps): Promise<CheckedHeader> {
  const header = request.headers.authorization;
  if (header === undefined) throw unauthorized("Missing X-Matrix Authorization header");
  const credentials = parseXMatrix(header);
  if (credentials === undefined) {
    throw unauthorized("Authorization header is not a valid X-Matrix header with origin, key and sig");
  }
  const { origin, destination, key, sig } = credentials;
  if (!isValidServerName(origin))
    throw unauthorized(`X-Matrix origin ${JSON.stringify(origin)} is not a server name`);
  if (origin === deps.serverName) throw unauthorized("X-Matrix origin is this server itself");
  // The spec lets receivers accept a missing destination from old servers; this one requires it.
  if (destination === undefined) throw unauthorized("X-Matrix header has no destination");
  if (destination !== deps.serverName) {
    throw unauthorized(
      `X-Matrix destination ${JSON.stringify(destination)} is not this server (${deps.serverName})`,
    );
  }
  if (!KEY_ID.test(key)) throw unauthorized(`X-Matrix key ${JSON.stringify(key)} is not an ed25519 key ID`);
  const publicKey = await deps.keys.verifyKey(origin, key, deps.clock.now());
  if (publicKey === undefined) throw unauthorized(`Unknown or expired key ${key} of ${origin}`);
  return { origin, destination, key, sig, publicKey };
}

/** The verified origin, once the body is read; throws 401 M_UNAUTHORIZED for a bad signature. */
export function verifySignature(
  request: FastifyRequest,
  header: CheckedHeader,
  deps: RequestAuthDeps,
): string {
  const { origin, destination, key, sig } = header;
  const signed = {
    ...requestJson({
      method: request.method,
      uri: request.raw.url ?? request.url,
      origin,
      destination,
      content: request.body,
    }),
    signatures: { [origin]: { [key]: sig } },
  };
  let valid: boolean;
  try {
    valid = verifyJsonSignature(signed, origin, key, header.publicKey, deps.crypto);
  } catch (error) {
    if (!(error instanceof CanonicalJsonError)) throw error;
    valid = false; // a body canonical JSON cannot express was never signed by a Matrix server
  }
  if (!valid) throw unauthorized(`Invalid X-Matrix signature by ${origin} with ${key}`);
  return origin;
}
