// Portable implementations of the injected primitives (Node and browsers), from @noble.
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Ed25519Signer, ProtocolCrypto } from "./crypto.js";

export const nobleCrypto: ProtocolCrypto = {
  sha256: (data) => sha256(data),
  ed25519Verify: (publicKey, message, signature) => {
    try {
      return ed25519.verify(signature, message, publicKey);
    } catch {
      return false;
    }
  },
};

/** A signer over a 32-byte Ed25519 seed. */
export function nobleSigner(keyId: string, seed: Uint8Array): Ed25519Signer & { publicKey: Uint8Array } {
  return {
    keyId,
    publicKey: ed25519.getPublicKey(seed),
    sign: (message) => ed25519.sign(message, seed),
  };
}
