// Matrix canonical JSON (spec appendix "Canonical JSON"): the bytes every hash and signature
// covers, so it runs on every PDU and must be exact and cheap.

export class CanonicalJsonError extends Error {
  override readonly name = "CanonicalJsonError";
}

/** Deeper nesting is refused with a typed error instead of overflowing the stack (also catches cycles). */
export const MAX_CANONICAL_JSON_DEPTH = 1024;

// A lone surrogate has no UTF-8 form: TextEncoder would silently sign U+FFFD instead, so refuse it.
const LONE_SURROGATE = /\p{Surrogate}/u;
// Characters JSON must escape, and surrogates (which need the check above).
// eslint-disable-next-line no-control-regex
const NEEDS_CARE = /["\\\u0000-\u001f\ud800-\udfff]/;

const utf8 = new TextEncoder();

/**
 * Canonical JSON text of `value`: keys sorted by Unicode code point, no whitespace, non-ASCII
 * unescaped, only the escapes JSON requires. Refuses what canonical JSON cannot express: numbers
 * that are not integers in [-(2^53)+1, 2^53-1] (-0 is written as 0), strings with lone
 * surrogates, undefined, functions, bigints, symbols and objects that are not plain objects or arrays.
 */
export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

/** The UTF-8 bytes of `canonicalJson(value)`: what Matrix hashes and signs. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return utf8.encode(write(value, 0));
}

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      if (!Number.isSafeInteger(value)) throw new CanonicalJsonError(`not a safe integer: ${value}`);
      return String(value);
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (value === null) return "null";
      if (depth >= MAX_CANONICAL_JSON_DEPTH) {
        throw new CanonicalJsonError(`nested deeper than ${MAX_CANONICAL_JSON_DEPTH} levels (or cyclic)`);
      }
      if (Array.isArray(value)) return writeArray(value, depth + 1);
      if (isPlainObject(value)) return writeObject(value, depth + 1);
      throw new CanonicalJsonError(`not a plain object or array: ${value.constructor?.name ?? "unknown"}`);
    default:
      throw new CanonicalJsonError(`not representable in JSON: ${typeof value}`);
  }
}

function writeArray(array: readonly unknown[], depth: number): string {
  let out = "[";
  // Index loop, not for-of: holes must reach write() as undefined and be refused.
  for (let i = 0; i < array.length; i++) {
    if (i > 0) out += ",";
    out += write(array[i], depth);
  }
  return out + "]";
}

function writeObject(object: Record<string, unknown>, depth: number): string {
  const keys = Object.keys(object);
  if (keys.length > 1) keys.sort(compareByCodePoint);
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) out += ",";
    out += quote(key) + ":" + write(object[key], depth);
  }
  return out + "}";
}

// JSON.stringify of a well-formed string is already the shortest form the appendix's grammar
// allows: it escapes only `"`, `\` and U+0000-U+001F, with \b \f \n \r \t and lowercase \u00XX.
function quote(text: string): string {
  // Fast path for the common case (long base64 ciphertexts): nothing to escape, no surrogates.
  if (!NEEDS_CARE.test(text)) return '"' + text + '"';
  if (LONE_SURROGATE.test(text)) throw new CanonicalJsonError("string contains a lone surrogate");
  return JSON.stringify(text);
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Orders strings by Unicode code point. Plain `<` compares UTF-16 code units, which puts astral
 * characters (surrogates D800-DFFF) before U+E000-U+FFFF; lifting surrogates above that range at
 * the first differing unit fixes it.
 */
export function compareByCodePoint(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit < 0xe000 ? unit + 0x2000 : unit - 0x800;
}
