// Primitives the protocol layer needs but does not implement. They are injected so that Node
// can use its native Ed25519 (much faster) while browsers use a portable library.

/** Verifies and hashes; pure functions with no key material of their own. */
export interface ProtocolCrypto {
  sha256(data: Uint8Array): Uint8Array;
  /** True when `signature` is a valid Ed25519 signature of `message` by `publicKey` (32 bytes). */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** A server's (or device's) signing key, named as in Matrix: `ed25519:<version>`. */
export interface Ed25519Signer {
  readonly keyId: string;
  sign(message: Uint8Array): Uint8Array;
}
