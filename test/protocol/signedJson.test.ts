import { describe, it, expect } from "vitest";
import { decodeBase64Lenient } from "../../src/protocol/base64.js";
import { CanonicalJsonError } from "../../src/protocol/canonicalJson.js";
import { nobleCrypto, nobleSigner } from "../../src/protocol/nobleCrypto.js";
import { signJson, verifyJsonSignature, SignedJsonError } from "../../src/protocol/signedJson.js";

// The Matrix spec's appendix "Cryptographic Test Vectors": seed, server name and key ID.
// The seed's last character carries non-zero spare bits, so it needs the tolerant decoder.
const SEED = decodeBase64Lenient("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
const SERVER = "domain";
const KEY_ID = "ed25519:1";
const signer = nobleSigner(KEY_ID, SEED);
const otherSigner = nobleSigner(KEY_ID, new Uint8Array(32).fill(7));

const EMPTY_SIGNATURE =
  "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ";
const ONE_TWO_SIGNATURE =
  "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw";

const verify = (value: object, publicKey = signer.publicKey, keyId = KEY_ID): boolean =>
  verifyJsonSignature(value, SERVER, keyId, publicKey, nobleCrypto);

describe("signJson: Matrix spec vectors", () => {
  it("signs the empty object as the spec shows", () => {
    expect(signJson({}, SERVER, signer)).toEqual({
      signatures: { domain: { "ed25519:1": EMPTY_SIGNATURE } },
    });
  });

  it('signs {"one":1,"two":"Two"} as the spec shows', () => {
    expect(signJson({ one: 1, two: "Two" }, SERVER, signer)).toEqual({
      one: 1,
      signatures: { domain: { "ed25519:1": ONE_TWO_SIGNATURE } },
      two: "Two",
    });
  });
});

describe("signJson: behaviour", () => {
  it("leaves signatures and unsigned out of the signed bytes", () => {
    const signed = signJson(
      { one: 1, two: "Two", unsigned: { age_ts: 1 }, signatures: { other: {} } },
      SERVER,
      signer,
    );
    expect(signed.signatures.domain?.[KEY_ID]).toBe(ONE_TWO_SIGNATURE);
  });

  it("keeps signatures already present, of other servers and other keys of the same server", () => {
    const value = { a: 1, signatures: { other: { "ed25519:x": "AAAA" }, domain: { "ed25519:0": "BBBB" } } };
    expect(signJson(value, SERVER, signer).signatures).toMatchObject({
      other: { "ed25519:x": "AAAA" },
      domain: { "ed25519:0": "BBBB", [KEY_ID]: expect.any(String) },
    });
  });

  it("keeps unsigned in the result", () => {
    expect(signJson({ a: 1, unsigned: { age_ts: 5 } }, SERVER, signer).unsigned).toEqual({ age_ts: 5 });
  });

  it("does not mutate its input", () => {
    const value = { a: 1, signatures: { domain: { "ed25519:0": "BBBB" } } };
    const before = structuredClone(value);
    signJson(value, SERVER, signer);
    expect(value).toEqual(before);
  });

  it("rejects a signatures entry that is not an object", () => {
    expect(() => signJson({ signatures: { domain: "x" } }, SERVER, signer)).toThrow(SignedJsonError);
  });

  it("rejects values canonical JSON cannot express", () => {
    expect(() => signJson({ a: 1.5 }, SERVER, signer)).toThrow(CanonicalJsonError);
  });
});

describe("verifyJsonSignature", () => {
  const signedOneTwo = { one: 1, two: "Two", signatures: { domain: { [KEY_ID]: ONE_TWO_SIGNATURE } } };

  it("accepts the spec's signed empty object", () => {
    expect(verify({ signatures: { domain: { [KEY_ID]: EMPTY_SIGNATURE } } })).toBe(true);
  });

  it("accepts the spec's signed one/two object", () => {
    expect(verify(signedOneTwo)).toBe(true);
  });

  it("ignores unsigned and other signatures", () => {
    expect(
      verify({ ...signedOneTwo, unsigned: { x: 1 }, signatures: { ...signedOneTwo.signatures, o: {} } }),
    ).toBe(true);
  });

  it("rejects a tampered value", () => {
    expect(verify({ ...signedOneTwo, two: "Three" })).toBe(false);
  });

  it("rejects the wrong public key", () => {
    expect(verify(signedOneTwo, otherSigner.publicKey)).toBe(false);
  });

  it("rejects a signature under another key ID", () => {
    expect(verify(signedOneTwo, signer.publicKey, "ed25519:2")).toBe(false);
  });

  it("rejects a missing signatures object", () => {
    expect(verify({ one: 1, two: "Two" })).toBe(false);
  });

  it.each([
    ["not base64", "!!!"],
    ["padded base64", `${ONE_TWO_SIGNATURE}==`],
    ["URL-safe base64", ONE_TWO_SIGNATURE.replace(/\+/g, "-").replace(/\//g, "_")],
    ["too short", "AAAA"],
    ["empty", ""],
    ["a number", 5],
    ["null", null],
  ])("returns false, without throwing, for a signature that is %s", (_name, signature) => {
    expect(verify({ one: 1, two: "Two", signatures: { domain: { [KEY_ID]: signature } } })).toBe(false);
  });

  it("verifies what signJson signed, with an arbitrary key ID", () => {
    const deviceSigner = nobleSigner("de.bwi.mls.v1.basic:DEVICE", SEED);
    const signed = signJson({ device_id: "DEVICE" }, "@u:domain", deviceSigner);
    expect(
      verifyJsonSignature(signed, "@u:domain", deviceSigner.keyId, deviceSigner.publicKey, nobleCrypto),
    ).toBe(true);
  });
});
