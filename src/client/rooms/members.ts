// The members of a room as its MLS group lists them (section 11: never from the server), each
// with how well its device is verified (section 3 levels) for the key that is in the group.
import { equalBytes } from "../../protocol/bytes.js";
import { deviceVerificationLevels } from "../device/verification.js";
import type { Member } from "../events.js";
import type { MatrixHttp } from "../http/matrixHttp.js";
import { groupMembers, ownLeafIndex, type GroupState } from "../mls/engine.js";
import type { ClientStore } from "../store/clientStore.js";

export async function listMembers(
  deps: { readonly http: MatrixHttp; readonly store: ClientStore; readonly ourUserId: string },
  group: GroupState,
): Promise<Member[]> {
  const members = groupMembers(group);
  const levels = new Map<string, Map<string, { level: string | undefined; key?: Uint8Array }>>();
  for (const userId of new Set(members.map((m) => m.userId))) {
    const devices = await deviceVerificationLevels({
      ...deps,
      userId,
    });
    levels.set(
      userId,
      new Map(
        [...devices].map(([id, v]) => [
          id,
          { level: v.level, ...(v.signaturePublicKey ? { key: v.signaturePublicKey } : {}) },
        ]),
      ),
    );
  }
  const ownLeaf = ownLeafIndex(group);
  return members.map((m) => {
    const known = levels.get(m.userId)?.get(m.deviceId);
    // A level counts only for the key that is actually in the group.
    const matches = known?.key !== undefined && equalBytes(known.key, m.signaturePublicKey);
    const verification =
      m.leafIndex === ownLeaf
        ? "own"
        : matches && known?.level
          ? (known.level as Member["verification"])
          : "unverified";
    return { userId: m.userId, deviceId: m.deviceId, leafIndex: m.leafIndex, verification };
  });
}
