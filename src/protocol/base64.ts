// Base64 as this protocol uses it (D5): Matrix signatures, keys and hashes are unpadded standard
// base64; every binary value this protocol adds, and event IDs, are unpadded URL-safe base64.
//
// Decoders ignore non-zero bits after the last whole byte (e.g. "Zh" reads as "f", like "Zg"):
// the Matrix spec's own test signing key seed has them, and common Matrix implementations
// accept them. Nothing here compares base64 text as identity, so no ambiguity follows.
import { base64nopad, base64urlnopad } from "@scure/base";

export class Base64Error extends Error {
  override readonly name = "Base64Error";
}

/** Unpadded standard base64: Matrix signatures, keys and content hashes. */
export function encodeBase64(bytes: Uint8Array): string {
  return base64nopad.encode(bytes);
}

/** Unpadded URL-safe base64 (D5): ciphertexts, key packages, credentials, Welcomes, event IDs. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

const STANDARD = 1;
const URL_SAFE = 2;

// Six-bit value of each ASCII character, -1 when it is in neither alphabet.
const SEXTET = new Int8Array(128).fill(-1);
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".split("").forEach((char, value) => {
  SEXTET[char.charCodeAt(0)] = value;
});
// Values 62 and 63 are where the alphabets differ: each such character marks its alphabet.
const ALPHABET_SPECIFIC: ReadonlyArray<readonly [string, number, number]> = [
  ["+", 62, STANDARD],
  ["/", 63, STANDARD],
  ["-", 62, URL_SAFE],
  ["_", 63, URL_SAFE],
];
const ALPHABET_OF = new Uint8Array(128);
for (const [char, value, alphabet] of ALPHABET_SPECIFIC) {
  SEXTET[char.charCodeAt(0)] = value;
  ALPHABET_OF[char.charCodeAt(0)] = alphabet;
}

/**
 * D5 reader: standard or URL-safe alphabet (not both in one text), with or without `=` padding;
 * padding, when present, must be exactly what RFC 4648 requires.
 */
export function decodeBase64Lenient(text: string): Uint8Array {
  let end = text.length;
  if (text.endsWith("=")) {
    end -= text.endsWith("==") ? 2 : 1;
    if (text.length % 4 !== 0 || end % 4 < 2) throw new Base64Error("wrong base64 padding");
  }
  return decodeSextets(text, end, STANDARD | URL_SAFE);
}

/** Strict reader for Matrix signatures and keys: standard alphabet, no padding. */
export function decodeBase64Unpadded(text: string): Uint8Array {
  return decodeSextets(text, text.length, STANDARD);
}

// Each ASCII character's six-bit value, with its alphabet bits above them (STANDARD or URL_SAFE
// for the four characters where the alphabets differ); -1 for anything else.
const TABLE = new Int16Array(65_536).fill(-1);
for (let code = 0; code < 128; code++) {
  const value = SEXTET[code] as number;
  if (value >= 0) TABLE[code] = value | ((ALPHABET_OF[code] as number) << 6);
}

function decodeSextets(text: string, end: number, allowedAlphabets: number): Uint8Array {
  // One leftover character carries only 6 bits: no byte can end there.
  if (end % 4 === 1) throw new Base64Error(`impossible base64 length ${end}`);
  const out = new Uint8Array((end * 3) >> 2);
  let seen = 0; // OR of every table entry: negative if any character is invalid
  let written = 0;
  let i = 0;
  for (const whole = end - (end % 4); i < whole; i += 4) {
    const a = TABLE[text.charCodeAt(i)] as number;
    const b = TABLE[text.charCodeAt(i + 1)] as number;
    const c = TABLE[text.charCodeAt(i + 2)] as number;
    const d = TABLE[text.charCodeAt(i + 3)] as number;
    seen |= a | b | c | d;
    const group = ((a & 63) << 18) | ((b & 63) << 12) | ((c & 63) << 6) | (d & 63);
    out[written++] = group >> 16;
    out[written++] = (group >> 8) & 0xff;
    out[written++] = group & 0xff;
  }
  // Two or three leftover characters make one or two bytes; extra low bits are ignored (see top).
  if (i < end) {
    const a = TABLE[text.charCodeAt(i)] as number;
    const b = TABLE[text.charCodeAt(i + 1)] as number;
    const c = end - i === 3 ? (TABLE[text.charCodeAt(i + 2)] as number) : 0;
    seen |= a | b | c;
    const group = ((a & 63) << 18) | ((b & 63) << 12) | ((c & 63) << 6);
    out[written] = group >> 16;
    if (end - i === 3) out[written + 1] = (group >> 8) & 0xff;
  }
  if (seen < 0) throw new Base64Error("invalid base64 character");
  const alphabets = seen >> 6;
  if ((alphabets & ~allowedAlphabets) !== 0) throw new Base64Error("base64 character outside the alphabet");
  if (alphabets === (STANDARD | URL_SAFE))
    throw new Base64Error("base64 mixes standard and URL-safe alphabets");
  return out;
}
