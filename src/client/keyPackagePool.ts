// Section 9: a pool of one-time key packages kept topped up from the counts sync reports, plus a
// last-resort key package. Private halves stay in the store until a Welcome used them.
import { MANDATORY_CIPHERSUITE, UNSTABLE_NAMES } from "../protocol/names.js";
import {
  createDeviceKeyPackage,
  decodeDeviceKeyPackage,
  encodeDeviceKeyPackage,
  type DeviceKeyPackage,
  type SignatureKeyPair,
} from "./mls/engine.js";
import type { MatrixHttp } from "./http/matrixHttp.js";
import type { ClientStore } from "./store/clientStore.js";
import { jsonBytes, parseJsonBytes } from "./clientData.js";
import { ignoreBody } from "./wire/replies.js";

/** D17: keys are uploaded under the unstable prefix while the proposal is unstable. */
export const MLS_ALGORITHM = UNSTABLE_NAMES.prefix + MANDATORY_CIPHERSUITE;

/** Top up below LOW to TARGET; each key package costs ~2 ms to make. */
const LOW = 10;
const TARGET = 25;
/** Last-resort packages already handed out may still be named by a Welcome on its way. */
const KEEP_LAST_RESORT = 3;
/** The refs of our last-resort key packages, oldest first. */
const LAST_RESORT_ORDER = "lastResortOrder";

export interface KeyPackagePoolOptions {
  readonly http: MatrixHttp;
  readonly store: ClientStore;
  readonly userId: string;
  readonly deviceId: string;
  readonly signatureKeyPair: SignatureKeyPair;
}

const refOf = (keyId: string) => keyId.slice(keyId.lastIndexOf(":") + 1);

export class KeyPackagePool {
  constructor(private readonly options: KeyPackagePoolOptions) {}

  /** `counts` and `unusedFallbackTypes` as sync reports them (device_one_time_keys_count, ...). */
  async topUp(
    counts: ReadonlyMap<string, number> | undefined,
    unusedFallbackTypes: readonly string[] | undefined,
  ): Promise<void> {
    const have = counts?.get(MLS_ALGORITHM) ?? 0;
    const oneTime = have < LOW ? await this.make(TARGET - have, false) : [];
    const lastResort = unusedFallbackTypes?.includes(MLS_ALGORITHM) ? [] : await this.make(1, true);
    if (oneTime.length === 0 && lastResort.length === 0) return;
    const body: Record<string, unknown> = {};
    if (oneTime.length > 0) body.one_time_keys = Object.fromEntries(oneTime.map((kp) => [kp.keyId, kp.wire]));
    if (lastResort.length > 0)
      body.fallback_keys = Object.fromEntries(lastResort.map((kp) => [kp.keyId, kp.wire]));
    await this.options.http.request("POST", "/keys/upload", ignoreBody, { body });
    if (lastResort.length > 0) await this.forgetOldLastResort();
  }

  /** One more one-time key package, kept but not uploaded: handed to a member directly. */
  async fresh(): Promise<DeviceKeyPackage> {
    const [made] = await this.make(1, false);
    return made as DeviceKeyPackage;
  }

  /** The key package a Welcome names (by KeyPackageRef), if it is one of ours. */
  async find(
    refs: readonly string[],
  ): Promise<{ keyPackage: DeviceKeyPackage; storeKey: string } | undefined> {
    for (const ref of refs) {
      for (const storeKey of [`otk:${ref}`, `lr:${ref}`]) {
        const bytes = await this.options.store.get("keyPackages", storeKey);
        if (bytes) return { keyPackage: decodeDeviceKeyPackage(bytes), storeKey };
      }
    }
    return undefined;
  }

  /** A one-time key package is deleted once used: its private keys must not outlive the join. */
  async used(storeKey: string): Promise<void> {
    if (storeKey.startsWith("otk:")) await this.options.store.delete("keyPackages", storeKey);
  }

  private async make(count: number, lastResort: boolean): Promise<DeviceKeyPackage[]> {
    const made: DeviceKeyPackage[] = [];
    for (let i = 0; i < count; i++) {
      made.push(
        await createDeviceKeyPackage({
          userId: this.options.userId,
          deviceId: this.options.deviceId,
          signatureKeyPair: this.options.signatureKeyPair,
          algorithm: MLS_ALGORITHM,
          lastResort,
        }),
      );
    }
    // Kept before they are uploaded: a Welcome can only name a package the server handed out.
    const prefix = lastResort ? "lr" : "otk";
    await this.options.store.transaction(
      made.map((kp) => ({
        op: "put" as const,
        ns: "keyPackages" as const,
        key: `${prefix}:${refOf(kp.keyId)}`,
        value: encodeDeviceKeyPackage(kp),
      })),
    );
    if (lastResort) {
      const order = await this.options.store.get("keyPackages", LAST_RESORT_ORDER);
      const refs = [...(order ? parseJsonBytes<string[]>(order) : []), ...made.map((kp) => refOf(kp.keyId))];
      await this.options.store.put("keyPackages", LAST_RESORT_ORDER, jsonBytes(refs));
    }
    return made;
  }

  private async forgetOldLastResort(): Promise<void> {
    const bytes = await this.options.store.get("keyPackages", LAST_RESORT_ORDER);
    if (!bytes) return;
    const refs = parseJsonBytes<string[]>(bytes);
    if (refs.length <= KEEP_LAST_RESORT) return;
    const old = refs.slice(0, refs.length - KEEP_LAST_RESORT);
    await this.options.store.transaction([
      ...old.map((ref) => ({ op: "delete" as const, ns: "keyPackages" as const, key: `lr:${ref}` })),
      {
        op: "put" as const,
        ns: "keyPackages" as const,
        key: LAST_RESORT_ORDER,
        value: jsonBytes(refs.slice(-KEEP_LAST_RESORT)),
      },
    ]);
  }
}
