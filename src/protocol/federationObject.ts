// The federation object a commit or pending commit carries in its MLS authenticated_data
// (section 3): which servers take part, which may order commits, which may propose them.
import { decode, encode, type DecodeOptions } from "cbor2";
import { hex } from "@scure/base";

export type RequiredVerification = "m.direct" | "m.cross" | "m.tofu" | "m.none";

export interface FederationObject {
  readonly federation: {
    /** Highest rank first; `powers[0]` is the delivery service. */
    readonly powers: readonly string[];
    readonly servers: readonly string[];
    readonly canPropose: readonly string[];
  };
  readonly security: {
    /** Seconds, as written; clients clamp it to MAX_SECURITY_WINDOW_SECONDS. */
    readonly window: number;
    readonly requiredVerification: RequiredVerification;
  };
}

export class FederationObjectError extends Error {
  override readonly name = "FederationObjectError";
}

export const MAX_SECURITY_WINDOW_SECONDS = 604_800;
export const DEFAULT_SECURITY_WINDOW_SECONDS = 0;
export const DEFAULT_REQUIRED_VERIFICATION: RequiredVerification = "m.cross";

const REQUIRED_VERIFICATIONS: ReadonlySet<string> = new Set<RequiredVerification>([
  "m.direct",
  "m.cross",
  "m.tofu",
  "m.none",
]);

const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * D7: RFC 8949 core deterministic encoding (preferred integer and length forms, definite lengths,
 * map keys in bytewise order of their encodings). Every key is written, defaults included.
 * Throws FederationObjectError for an object a reader would reject.
 */
export function encodeFederationObject(obj: FederationObject): Uint8Array {
  const { federation, security } = obj;
  checkList(federation.powers, "federation.powers");
  checkList(federation.servers, "federation.servers");
  checkList(federation.canPropose, "federation.can_propose");
  checkWindow(security.window);
  checkRequiredVerification(security.requiredVerification);
  const wire = {
    federation: {
      powers: federation.powers,
      servers: federation.servers,
      can_propose: federation.canPropose,
    },
    security: { window: security.window, required_verification: security.requiredVerification },
  };
  // simplifyNegativeZero: a window of -0 is the integer 0, not a float.
  return encode(wire, { cde: true, simplifyNegativeZero: true });
}

/**
 * D7 reader. Accepts any well-formed CBOR with definite lengths and ignores unknown keys (their
 * values may be anything well-formed, tags included). Rejects, with FederationObjectError only:
 * indefinite lengths, duplicate map keys, trailing bytes, tags or non-text map keys at the known
 * levels, wrong types, duplicate list entries (D8), a window that is not an integer in
 * [0, 2^53-1], an unknown required_verification.
 *
 * Absent `can_propose` is empty (D6). Absent `federation`, `powers` or `servers` also read as
 * empty, so the auth rules reject them under their own numbers (R9.5, R9.6, R10.3). Absent
 * `security` fields take their defaults (window 0, `m.cross`). Server-name grammar is left to
 * the auth rules, for the same reason.
 */
export function decodeFederationObject(bytes: Uint8Array): FederationObject {
  const root = readMap(decodeCbor(bytes), "federation object");
  const federation = readOptionalMap(root, "federation");
  const security = readOptionalMap(root, "security");
  return {
    federation: {
      powers: readList(federation, "powers", "federation.powers"),
      servers: readList(federation, "servers", "federation.servers"),
      canPropose: readList(federation, "can_propose", "federation.can_propose"),
    },
    security: {
      window: readWindow(security),
      requiredVerification: readRequiredVerification(security),
    },
  };
}

const DECODE_OPTIONS: DecodeOptions = {
  rejectStreaming: true,
  rejectDuplicateKeys: true,
  // Integers become bigint and floats stay numbers, so a float window (5.0) is told apart from 5.
  preferBigInt: true,
  // Tags stay Tag objects (wrong type wherever a known field is read), never run tag decoders.
  ignoreGlobalTags: true,
  createObject: toMapRejectingDuplicates,
};

function decodeCbor(bytes: Uint8Array): unknown {
  try {
    return decode(bytes, DECODE_OPTIONS);
  } catch (error) {
    // cbor2 throws assorted Error, TypeError and RangeError kinds for malformed input.
    throw new FederationObjectError(`not well-formed definite-length CBOR: ${(error as Error).message}`);
  }
}

/**
 * cbor2's duplicate check compares encoded bytes, which misses a key repeated in a non-preferred
 * encoding (text "a" as 61 61 and as 78 01 61). Text and integer keys are compared by value here;
 * other key kinds by their encoded bytes.
 */
function toMapRejectingDuplicates(
  entries: ReadonlyArray<readonly [unknown, unknown, Uint8Array]>,
): Map<unknown, unknown> {
  const map = new Map<unknown, unknown>();
  const seen = new Set<string>();
  for (const [key, value, encodedKey] of entries) {
    const identity =
      typeof key === "string"
        ? `t${key}`
        : typeof key === "bigint"
          ? `i${key}`
          : `x${hex.encode(encodedKey)}`;
    if (seen.has(identity)) throw new Error("duplicate map key");
    seen.add(identity);
    map.set(key, value);
  }
  return map;
}

function readMap(value: unknown, path: string): ReadonlyMap<string, unknown> {
  if (!(value instanceof Map)) throw new FederationObjectError(`${path} must be a map`);
  for (const key of value.keys()) {
    if (typeof key !== "string") throw new FederationObjectError(`${path} has a non-text key`);
  }
  return value as ReadonlyMap<string, unknown>;
}

// `has`, not `get() === undefined`: a present CBOR `undefined` is a wrong type, not an absence.
function readOptionalMap(parent: ReadonlyMap<string, unknown>, key: string): ReadonlyMap<string, unknown> {
  return parent.has(key) ? readMap(parent.get(key), key) : new Map();
}

function readList(parent: ReadonlyMap<string, unknown>, key: string, path: string): readonly string[] {
  if (!parent.has(key)) return [];
  const value = parent.get(key);
  if (!Array.isArray(value)) throw new FederationObjectError(`${path} must be an array`);
  checkList(value, path);
  return value as string[];
}

function readWindow(security: ReadonlyMap<string, unknown>): number {
  if (!security.has("window")) return DEFAULT_SECURITY_WINDOW_SECONDS;
  const value = security.get("window");
  if (typeof value !== "bigint") throw new FederationObjectError("security.window must be an integer");
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new FederationObjectError(`security.window ${value} is not in [0, 2^53-1]`);
  }
  return Number(value);
}

function readRequiredVerification(security: ReadonlyMap<string, unknown>): RequiredVerification {
  if (!security.has("required_verification")) return DEFAULT_REQUIRED_VERIFICATION;
  const value = security.get("required_verification");
  checkRequiredVerification(value);
  return value;
}

function checkList(list: readonly unknown[], path: string): void {
  const seen = new Set<string>();
  for (const entry of list) {
    if (typeof entry !== "string") throw new FederationObjectError(`${path} entries must be text strings`);
    if (LONE_SURROGATE.test(entry))
      throw new FederationObjectError(`${path} has an entry with a lone surrogate`);
    if (seen.has(entry)) throw new FederationObjectError(`D8: ${path} lists ${JSON.stringify(entry)} twice`);
    seen.add(entry);
  }
}

function checkWindow(window: number): void {
  if (!Number.isSafeInteger(window) || window < 0) {
    throw new FederationObjectError(`security.window ${window} is not an integer in [0, 2^53-1]`);
  }
}

function checkRequiredVerification(value: unknown): asserts value is RequiredVerification {
  if (typeof value !== "string" || !REQUIRED_VERIFICATIONS.has(value)) {
    throw new FederationObjectError(
      `security.required_verification ${String(value)} is not one of m.direct, m.cross, m.tofu, m.none`,
    );
  }
}
