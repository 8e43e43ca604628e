// Why a device, cross-signing or verification step could not be done, in words that tell the
// user what to do next; `code` lets the SDK and apps react without parsing messages.

export type DeviceTrustErrorCode =
  /** This device does not hold the user's cross-signing private keys. */
  | "no-cross-signing-keys"
  /** The other user has no master key on the homeserver. */
  | "no-master-key"
  /** The fingerprint the user compared is not the one the homeserver serves. */
  | "fingerprint-mismatch"
  /** Replacing cross-signing keys needs the account password and none was given. */
  | "password-required"
  /** The homeserver refused the password given for replacing cross-signing keys. */
  | "password-rejected"
  /** The homeserver refused an uploaded signature. */
  | "signature-refused"
  /** The device is unknown or its keys are not a valid section-9 MLS device. */
  | "invalid-device"
  /** Our own master key on the homeserver is not the one this device holds. */
  | "master-key-changed"
  /** The store belongs to another user or device, or holds a record this code cannot read. */
  | "store-mismatch"
  /** A user cannot verify themself: own devices are approved instead. */
  | "own-user"
  /** The MLS signature key pair is not an Ed25519 key pair this code can sign with. */
  | "invalid-signature-key";

export class DeviceTrustError extends Error {
  override readonly name = "DeviceTrustError";
  constructor(
    readonly code: DeviceTrustErrorCode,
    message: string,
  ) {
    super(message);
  }
}
