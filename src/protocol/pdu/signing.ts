// Building and verifying PDUs: only the `origin` server signs, with its federation key (section 3).
import { decodeBase64Unpadded, encodeBase64, Base64Error } from "../base64.js";
import type { Ed25519Signer, ProtocolCrypto } from "../crypto.js";
import { canonicalForms, type PduCanonicalForms } from "./canonicalForms.js";
import { computeContentHash, eventIdFromSigningBytes, redactedSigningBytes } from "./hashes.js";
import type { Pdu, UnsignedPdu } from "./types.js";

export interface SignedPdu {
  readonly pdu: Pdu;
  readonly eventId: string;
}

/** Adds the content hash, then the origin's signature over the redacted event. */
export function signPdu(event: UnsignedPdu, signer: Ed25519Signer, crypto: ProtocolCrypto): SignedPdu {
  const hashed = { ...event, hashes: { sha256: computeContentHash(event, crypto) } };
  const signingBytes = redactedSigningBytes(hashed);
  const pdu: Pdu = {
    ...hashed,
    signatures: { [event.origin]: { [signer.keyId]: encodeBase64(signer.sign(signingBytes)) } },
  };
  return { pdu, eventId: eventIdFromSigningBytes(signingBytes, crypto) };
}

/** Public keys of a server by key ID, for instance `ed25519:abc`. */
export type ServerKeyLookup = (serverName: string, keyId: string) => Uint8Array | undefined;

export type PduIntegrityFailure = "signature" | "content-hash";

export interface PduIntegrity {
  readonly eventId: string;
  readonly failure?: PduIntegrityFailure;
  readonly detail?: string;
}

/**
 * D10's first checks after shape: the origin's signature, then the content hash (a mismatch means
 * tampering, D2). Every signature the origin made must verify with a key the caller knows, and
 * there must be at least one. Also yields the event ID, which covers the same bytes.
 */
export function checkPduIntegrity(
  pdu: Pdu,
  keys: ServerKeyLookup,
  crypto: ProtocolCrypto,
  forms: PduCanonicalForms = canonicalForms(pdu as unknown as Record<string, unknown>),
): PduIntegrity {
  const signingBytes = forms.signingInput;
  const eventId = eventIdFromSigningBytes(signingBytes, crypto);
  const originSignatures = Object.entries(pdu.signatures[pdu.origin] ?? {});
  if (originSignatures.length === 0) {
    return { eventId, failure: "signature", detail: `no signature by origin ${pdu.origin}` };
  }
  for (const [keyId, signature] of originSignatures) {
    const publicKey = keys(pdu.origin, keyId);
    if (publicKey === undefined) {
      return { eventId, failure: "signature", detail: `unknown key ${keyId} of ${pdu.origin}` };
    }
    let signatureBytes: Uint8Array;
    try {
      signatureBytes = decodeBase64Unpadded(signature);
    } catch (error) {
      if (!(error instanceof Base64Error)) throw error;
      return { eventId, failure: "signature", detail: `signature ${keyId} is not base64` };
    }
    if (!crypto.ed25519Verify(publicKey, signingBytes, signatureBytes)) {
      return { eventId, failure: "signature", detail: `signature ${keyId} of ${pdu.origin} does not verify` };
    }
  }
  if (encodeBase64(crypto.sha256(forms.contentHashInput)) !== pdu.hashes.sha256) {
    return { eventId, failure: "content-hash", detail: "content hash does not match (D2: tampering)" };
  }
  return { eventId };
}
