// What a server may read from an MLS ciphertext without any keys (section 3): group ID, epoch,
// content type and authenticated data of an `mls_private_message`.
import { mlsMessageDecoder, wireformats, type MlsMessage } from "ts-mls";

export const MLS_CONTENT_TYPE = { application: 1, proposal: 2, commit: 3 } as const;
export type MlsContentType = (typeof MLS_CONTENT_TYPE)[keyof typeof MLS_CONTENT_TYPE];

export interface MlsFraming {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly contentType: MlsContentType;
  readonly authenticatedData: Uint8Array;
}

export class MlsFramingError extends Error {
  override readonly name = "MlsFramingError";
}

/**
 * Decodes exactly one well-formed MLSMessage (no truncation, no trailing bytes) of any wire
 * format; anything else is an MlsFramingError. Shared by every reader of MLS bytes.
 */
export function decodeMlsMessage(bytes: Uint8Array): MlsMessage {
  let decoded: ReturnType<typeof mlsMessageDecoder>;
  try {
    decoded = mlsMessageDecoder(bytes, 0);
  } catch (error) {
    // ts-mls signals some malformations by throwing, others by returning undefined.
    throw new MlsFramingError(`not a well-formed MLSMessage: ${(error as Error).message}`);
  }
  if (decoded === undefined) throw new MlsFramingError("not a well-formed MLSMessage");
  const [message, consumed] = decoded;
  if (consumed !== bytes.length) {
    throw new MlsFramingError(`MLSMessage followed by ${bytes.length - consumed} trailing bytes`);
  }
  return message;
}

/**
 * Reads the framing of a serialized MLSMessage. Anything that is not exactly one well-formed
 * `mls_private_message` (other wire formats, truncation, trailing bytes) is an MlsFramingError.
 */
export function readMlsFraming(bytes: Uint8Array): MlsFraming {
  const message = decodeMlsMessage(bytes);
  if (message.wireformat !== wireformats.mls_private_message) {
    throw new MlsFramingError(`MLSMessage has wire format ${message.wireformat}, not mls_private_message`);
  }
  const { groupId, epoch, contentType, authenticatedData } = message.privateMessage;
  return { groupId, epoch, contentType, authenticatedData };
}
