// RFC 9420 section 6.3.2 sender data decryption. ts-mls does not report who sent an application
// message and does not export its own decryptSenderData, so the adapter reads the sender leaf
// itself, with the engine's KDF and AEAD, before handing the message to ts-mls.
import type { CiphersuiteImpl, PrivateMessage } from "ts-mls";
import { concatBytes, encodeVector } from "../../protocol/tlsVector.js";

const utf8 = new TextEncoder();

/** The sender's leaf index, or undefined when the sender data does not decrypt. */
export async function decryptSenderLeafIndex(
  message: PrivateMessage,
  senderDataSecret: Uint8Array,
  suite: CiphersuiteImpl,
): Promise<number | undefined> {
  const sample = message.ciphertext.subarray(0, suite.kdf.size);
  const key = await expandWithLabel(senderDataSecret, "key", sample, suite.hpke.keyLength, suite);
  const nonce = await expandWithLabel(senderDataSecret, "nonce", sample, suite.hpke.nonceLength, suite);
  const epoch = new Uint8Array(8);
  new DataView(epoch.buffer).setBigUint64(0, message.epoch);
  const aad = concatBytes([encodeVector(message.groupId), epoch, new Uint8Array([message.contentType])]);
  let senderData: Uint8Array;
  try {
    senderData = await suite.hpke.decryptAead(key, nonce, aad, message.encryptedSenderData);
  } catch {
    return undefined;
  }
  // SenderData: uint32 leaf_index, uint32 generation, opaque reuse_guard[4].
  if (senderData.length !== 12) return undefined;
  return new DataView(senderData.buffer, senderData.byteOffset, 4).getUint32(0);
}

async function expandWithLabel(
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
  suite: CiphersuiteImpl,
): Promise<Uint8Array> {
  const kdfLabel = concatBytes([
    new Uint8Array([length >> 8, length & 0xff]),
    encodeVector(utf8.encode(`MLS 1.0 ${label}`)),
    encodeVector(context),
  ]);
  return suite.kdf.expand(secret, kdfLabel, length);
}
