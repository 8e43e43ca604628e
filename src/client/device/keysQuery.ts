// One user's keys from `/keys/query`, checked on the client: the homeserver may serve anything,
// so cross-signing keys are shape-checked and the self-signing key is kept only when the master
// key signed it.
import type { MatrixHttp } from "../http/matrixHttp.js";
import { isRecord, signedBy } from "./checks.js";
import { readCrossSigningKey, type PublicCrossSigningKey } from "./crossSigning.js";

export interface UserKeys {
  /** Device keys by device ID, unchecked: run verifyDeviceKeys on each. */
  readonly devices: Readonly<Record<string, unknown>>;
  readonly master?: PublicCrossSigningKey;
  /** Present only when signed by `master`. */
  readonly selfSigning?: PublicCrossSigningKey;
}

interface QueryReply {
  device_keys?: Record<string, unknown>;
  master_keys?: Record<string, unknown>;
  self_signing_keys?: Record<string, unknown>;
}

export async function queryUserKeys(http: MatrixHttp, userId: string): Promise<UserKeys> {
  const reply = await http.request<QueryReply>("POST", "/keys/query", {
    body: { device_keys: { [userId]: [] } },
  });
  const devices = isRecord(reply.device_keys) ? reply.device_keys[userId] : undefined;
  const master = readCrossSigningKey(entry(reply.master_keys, userId), userId, "master");
  const selfSigning = readCrossSigningKey(entry(reply.self_signing_keys, userId), userId, "self_signing");
  const chained =
    master !== undefined &&
    selfSigning !== undefined &&
    signedBy(selfSigning.json, userId, master.keyId, master.publicBytes);
  return {
    devices: isRecord(devices) ? devices : {},
    ...(master === undefined ? {} : { master }),
    ...(chained ? { selfSigning } : {}),
  };
}

/** True when `value` carries a valid signature by the user's (chained) self-signing key. */
export function signedBySelfSigningKey(keys: UserKeys, userId: string, value: unknown): boolean {
  const ssk = keys.selfSigning;
  return ssk !== undefined && isRecord(value) && signedBy(value, userId, ssk.keyId, ssk.publicBytes);
}

function entry(map: unknown, userId: string): unknown {
  return isRecord(map) && Object.hasOwn(map, userId) ? map[userId] : undefined;
}
