// Whose key package a claimed one is: the section 9 identity in its leaf credential. The SDK adds
// a device only when this matches the device's own credential (a homeserver could hand out any).
import { decode, defaultCredentialTypes, mlsMessageDecoder, wireformats } from "ts-mls";
import { decodeBase64Lenient } from "../../protocol/base64.js";
import { decodeIdentity, type DeviceIdentity } from "../../protocol/credential.js";

export function keyPackageIdentity(wire: string): DeviceIdentity | undefined {
  try {
    const message = decode(mlsMessageDecoder, decodeBase64Lenient(wire));
    if (message?.wireformat !== wireformats.mls_key_package) return undefined;
    const credential = message.keyPackage.leafNode.credential;
    if (credential.credentialType !== defaultCredentialTypes.basic || !("identity" in credential))
      return undefined;
    const identity = decodeIdentity(credential.identity);
    // The leaf's signature key must be the one the credential names.
    const leafKey = message.keyPackage.leafNode.signaturePublicKey;
    const same =
      leafKey.length === identity.signaturePublicKey.length &&
      leafKey.every((byte, i) => byte === identity.signaturePublicKey[i]);
    return same ? identity : undefined;
  } catch {
    return undefined;
  }
}
