// One user's keys from `/keys/query`, checked on the client: the homeserver may serve anything,
// so cross-signing keys are shape-checked and the self-signing key is kept only when the master
// key signed it.
import type { MatrixHttp } from "../http/matrixHttp.js";
import { decodeKeysQuery } from "../wire/keys.js";
import { isRecord, signedBy } from "./checks.js";
import { readCrossSigningKey, type PublicCrossSigningKey } from "./crossSigning.js";

export interface UserKeys {
  /** Device keys by device ID, unchecked: run verifyDeviceKeys on each. */
  readonly devices: ReadonlyMap<string, unknown>;
  readonly master?: PublicCrossSigningKey;
  /** Present only when signed by `master`. */
  readonly selfSigning?: PublicCrossSigningKey;
}

export async function queryUserKeys(http: MatrixHttp, userId: string): Promise<UserKeys> {
  const reply = await http.request("POST", "/keys/query", decodeKeysQuery, {
    body: { device_keys: { [userId]: [] } },
  });
  const master = readCrossSigningKey(reply.masterKeys.get(userId), userId, "master");
  const selfSigning = readCrossSigningKey(reply.selfSigningKeys.get(userId), userId, "self_signing");
  const chained =
    master !== undefined &&
    selfSigning !== undefined &&
    signedBy(selfSigning.json, userId, master.keyId, master.publicBytes);
  return {
    devices: reply.deviceKeys.get(userId) ?? new Map(),
    ...(master === undefined ? {} : { master }),
    ...(chained ? { selfSigning } : {}),
  };
}

/** True when `value` carries a valid signature by the user's (chained) self-signing key. */
export function signedBySelfSigningKey(keys: UserKeys, userId: string, value: unknown): boolean {
  const ssk = keys.selfSigning;
  return ssk !== undefined && isRecord(value) && signedBy(value, userId, ssk.keyId, ssk.publicBytes);
}
