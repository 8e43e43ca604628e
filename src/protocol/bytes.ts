// Byte comparisons the protocol, server and client all need (keys, credentials, ciphertexts).
// Not constant-time: only for public values.

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
