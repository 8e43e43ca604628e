// /keys/query, /keys/claim and /keys/upload replies, decoded. Device keys and cross-signing keys
// stay unknown values here: their signatures and shapes are checked by the device modules.
import { mapOf, number, object, optionalField, string, unknownValue, type Decoder } from "./decode.js";

export interface KeysQueryReply {
  /** user ID → device ID → device keys (unchecked). */
  readonly deviceKeys: ReadonlyMap<string, ReadonlyMap<string, unknown>>;
  /** user ID → master key (unchecked). */
  readonly masterKeys: ReadonlyMap<string, unknown>;
  readonly selfSigningKeys: ReadonlyMap<string, unknown>;
}

export const decodeKeysQuery: Decoder<KeysQueryReply> = (value, field) => {
  const o = object(value, field);
  return {
    deviceKeys: optionalField(o, "device_keys", mapOf(mapOf(unknownValue)), field) ?? new Map(),
    masterKeys: optionalField(o, "master_keys", mapOf(unknownValue), field) ?? new Map(),
    selfSigningKeys: optionalField(o, "self_signing_keys", mapOf(unknownValue), field) ?? new Map(),
  };
};

/** user ID → device ID → key ID → key package (D20: the one-time key is the key package string). */
export type KeysClaimReply = ReadonlyMap<string, ReadonlyMap<string, ReadonlyMap<string, string>>>;

export const decodeKeysClaim: Decoder<KeysClaimReply> = (value, field) =>
  optionalField(object(value, field), "one_time_keys", mapOf(mapOf(mapOf(string))), field) ?? new Map();

/** The one-time key counts after an upload. */
export const decodeKeysUpload: Decoder<ReadonlyMap<string, number> | undefined> = (value, field) =>
  optionalField(object(value, field), "one_time_key_counts", mapOf(number), field);
