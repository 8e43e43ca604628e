// Node implementations of the protocol layer's injected primitives: native Ed25519 and SHA-256
// from OpenSSL, several times faster than the portable ones.
import { createPrivateKey, createPublicKey, hash, sign, verify, type KeyObject } from "node:crypto";
import type { Ed25519Signer, ProtocolCrypto } from "../protocol/crypto.js";

// DER prefixes that wrap a raw 32-byte Ed25519 key as SPKI (public) and PKCS#8 (private).
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);
const PKCS8_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const MAX_CACHED_KEYS = 4096;

function withPrefix(prefix: Uint8Array, key: Uint8Array): Buffer {
  return Buffer.concat([prefix, key]);
}

/** Parsing a key costs about as much as a verification, so keys are kept per public key. */
function publicKeyCache(): (raw: Uint8Array) => KeyObject | undefined {
  const cache = new Map<string, KeyObject>();
  return (raw) => {
    if (raw.length !== 32) return undefined;
    const id = Buffer.from(raw).toString("base64");
    let key = cache.get(id);
    if (key === undefined) {
      key = createPublicKey({ key: withPrefix(SPKI_PREFIX, raw), format: "der", type: "spki" });
      if (cache.size >= MAX_CACHED_KEYS) cache.clear();
      cache.set(id, key);
    }
    return key;
  };
}

export function nodeCrypto(): ProtocolCrypto {
  const keyFor = publicKeyCache();
  return {
    // The one-shot hash() skips the Hash object that createHash() builds: a third of the cost here.
    sha256: (data) => hash("sha256", data, "buffer"),
    ed25519Verify: (publicKey, message, signature) => {
      const key = keyFor(publicKey);
      return key !== undefined && signature.length === 64 && verify(null, message, key, signature);
    },
  };
}

/** A native signer over a 32-byte Ed25519 seed. */
export function nodeSigner(keyId: string, seed: Uint8Array): Ed25519Signer & { publicKey: Uint8Array } {
  const privateKey = createPrivateKey({ key: withPrefix(PKCS8_PREFIX, seed), format: "der", type: "pkcs8" });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return {
    keyId,
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}
