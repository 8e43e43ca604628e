import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  Base64Error,
  decodeBase64Lenient,
  decodeBase64Unpadded,
  encodeBase64,
  encodeBase64Url,
} from "../../src/protocol/base64.js";

const bytesOf = (text: string): Uint8Array => new TextEncoder().encode(text);

// The Matrix spec's appendix "Unpadded Base64" examples.
const SPEC_VECTORS: ReadonlyArray<readonly [string, string]> = [
  ["", ""],
  ["f", "Zg"],
  ["fo", "Zm8"],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg"],
  ["fooba", "Zm9vYmE"],
  ["foobar", "Zm9vYmFy"],
];

// 0xfb 0xff uses both characters where the alphabets differ.
const DIFFERING = Uint8Array.of(0xfb, 0xff, 0xbf);

describe("encodeBase64 (Matrix: unpadded standard)", () => {
  it.each(SPEC_VECTORS)("encodes %j as %j", (plain, encoded) => {
    expect(encodeBase64(bytesOf(plain))).toBe(encoded);
  });

  it("uses + and /", () => {
    expect(encodeBase64(DIFFERING)).toBe("+/+/");
  });
});

describe("encodeBase64Url (D5: unpadded URL-safe)", () => {
  it("uses - and _ and no padding", () => {
    expect(encodeBase64Url(Uint8Array.of(0xfb, 0xff))).toBe("-_8");
  });
});

describe("decodeBase64Unpadded (Matrix signatures and keys)", () => {
  it.each(SPEC_VECTORS)("decodes %j from %j", (plain, encoded) => {
    expect(decodeBase64Unpadded(encoded)).toEqual(bytesOf(plain));
  });

  it.each([
    ["padding", "Zg=="],
    ["URL-safe characters", "-_-_"],
    ["an impossible length", "Zm9vY"],
    ["a non-alphabet character", "Zm9v!"],
    ["whitespace", "Zm9v Zg"],
    ["a non-ASCII character", "Zm9vé"],
  ])("rejects %s", (_name, text) => {
    expect(() => decodeBase64Unpadded(text)).toThrow(Base64Error);
  });

  it("accepts non-zero spare bits in the last character (the spec's test key seed has them)", () => {
    expect(decodeBase64Unpadded("Zh")).toEqual(bytesOf("f"));
  });
});

describe("decodeBase64Lenient (D5)", () => {
  it.each([
    ["unpadded standard", "+/+/"],
    ["unpadded URL-safe", "-_-_"],
  ])("accepts %s", (_name, text) => {
    expect(decodeBase64Lenient(text)).toEqual(DIFFERING);
  });

  it.each([
    ["two padding characters", "Zg==", "f"],
    ["one padding character", "Zm8=", "fo"],
    ["no padding", "Zm8", "fo"],
    ["padded URL-safe", "-_8=", "\u00fb\u00ff"],
  ])("accepts %s", (_name, text, latin1) => {
    expect(decodeBase64Lenient(text)).toEqual(Uint8Array.from(latin1, (char) => char.charCodeAt(0)));
  });

  it.each([
    ["mixed alphabets", "+_8A"],
    ["padding on a whole quantum", "Zm9v=="],
    ["too little padding", "Zg="],
    ["too much padding", "Zm8=="],
    ["padding alone", "=="],
    ["padding in the middle", "Zg==Zg=="],
    ["an impossible length", "Z"],
    ["an impossible padded length", "Z==="],
    ["a non-alphabet character", "Zm.v"],
  ])("rejects %s", (_name, text) => {
    expect(() => decodeBase64Lenient(text)).toThrow(Base64Error);
  });

  it("round-trips every byte string in both alphabets, padded and unpadded", () => {
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        const url = encodeBase64Url(bytes);
        const standard = encodeBase64(bytes);
        const padded = standard + "=".repeat((4 - (standard.length % 4)) % 4);
        for (const text of [url, standard, padded]) expect(decodeBase64Lenient(text)).toEqual(bytes);
      }),
    );
  });

  it("agrees with the strict decoder on unpadded standard text", () => {
    fc.assert(
      fc.property(fc.uint8Array(), (bytes) => {
        expect(decodeBase64Unpadded(encodeBase64(bytes))).toEqual(bytes);
      }),
    );
  });

  it("either decodes or throws Base64Error for any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."AZaz09+/-_=!é") }), (text) => {
        try {
          decodeBase64Lenient(text);
        } catch (error) {
          expect(error).toBeInstanceOf(Base64Error);
        }
      }),
    );
  });
});
