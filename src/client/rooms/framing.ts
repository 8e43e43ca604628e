// The epoch an event's MLS ciphertext is framed in, read without decrypting it.
import { decodeBase64Lenient } from "../../protocol/base64.js";
import { readMlsFraming } from "../../protocol/mlsFraming.js";

/** The epoch an event's MLS ciphertext is framed in; undefined when it is not readable. */
export function framedEpoch(ciphertext: unknown): bigint | undefined {
  if (typeof ciphertext !== "string") return undefined;
  try {
    return readMlsFraming(decodeBase64Lenient(ciphertext)).epoch;
  } catch {
    return undefined;
  }
}
