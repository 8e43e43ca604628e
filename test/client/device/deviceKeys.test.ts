// Section 9 device keys as the SDK builds and checks them: the D18 credential, the D19
// signature by the MLS signature key, and what makes keys "no MLS device at all".
import { ed25519 } from "@noble/curves/ed25519.js";
import { describe, expect, it } from "vitest";
import { buildDeviceKeys, ed25519Seed, verifyDeviceKeys } from "../../../src/client/device/deviceKeys.js";
import { DeviceTrustError } from "../../../src/client/device/errors.js";
import { generateSignatureKeyPair } from "../../../src/client/mls/engine.js";
import { decodeBase64Lenient, encodeBase64Url } from "../../../src/protocol/base64.js";
import { decodeCredential, encodeCredential } from "../../../src/protocol/credential.js";
import { MANDATORY_CIPHERSUITE, STABLE_NAMES, UNSTABLE_NAMES } from "../../../src/protocol/names.js";
import { nobleCrypto } from "../../../src/protocol/nobleCrypto.js";
import { verifyJsonSignature } from "../../../src/protocol/signedJson.js";
import {
  deviceKeys as helperDeviceKeys,
  newMlsDevice,
  newSigningKey,
  signed,
} from "../../helpers/keyPackages.js";

const USER = "@alice:example.org";
const DEVICE = "ALICEDEVICE";
const KEY_ID = `${UNSTABLE_NAMES.prefix}basic:${DEVICE}`;

async function built() {
  const signatureKeyPair = await generateSignatureKeyPair();
  return { signatureKeyPair, keys: buildDeviceKeys({ userId: USER, deviceId: DEVICE, signatureKeyPair }) };
}

describe("buildDeviceKeys", () => {
  it("D17 lists the unstable algorithm of ciphersuite 1 and puts the credential under the unstable prefix", async () => {
    const { keys } = await built();
    expect([keys.user_id, keys.device_id, keys.algorithms, Object.keys(keys.keys)]).toEqual([
      USER,
      DEVICE,
      [UNSTABLE_NAMES.prefix + MANDATORY_CIPHERSUITE],
      [KEY_ID],
    ]);
  });

  it("D18 holds a basic credential naming the user, the device and the MLS signature key", async () => {
    const { keys, signatureKeyPair } = await built();
    const identity = decodeCredential(decodeBase64Lenient(keys.keys[KEY_ID] as string));
    expect(identity).toEqual({
      userId: USER,
      deviceId: DEVICE,
      signaturePublicKey: signatureKeyPair.publicKey,
    });
  });

  it("D19 is signed under the credential's key ID by the MLS signature key", async () => {
    const { keys, signatureKeyPair } = await built();
    expect(verifyJsonSignature(keys, USER, KEY_ID, signatureKeyPair.publicKey, nobleCrypto)).toBe(true);
  });
});

describe("verifyDeviceKeys", () => {
  it("device keys carry a D19 signature by the MLS key that verifyDeviceKeys accepts", async () => {
    const { keys, signatureKeyPair } = await built();
    expect(verifyDeviceKeys(keys, USER, DEVICE)).toMatchObject({
      userId: USER,
      deviceId: DEVICE,
      keyId: KEY_ID,
      signaturePublicKey: signatureKeyPair.publicKey,
    });
  });

  it("accepts device keys made independently (the test helper's ts-mls-free construction)", () => {
    const device = newMlsDevice(USER, DEVICE);
    expect(verifyDeviceKeys(helperDeviceKeys(device), USER, DEVICE)?.signaturePublicKey).toEqual(
      device.signatureKey.publicBytes,
    );
  });

  it("D17 accepts a credential under the stable prefix", () => {
    const device = newMlsDevice(USER, DEVICE);
    expect(verifyDeviceKeys(helperDeviceKeys(device, STABLE_NAMES.prefix), USER, DEVICE)?.keyId).toBe(
      `${STABLE_NAMES.prefix}basic:${DEVICE}`,
    );
  });

  it("a tampered device key is not an MLS device", async () => {
    const { keys } = await built();
    const tampered = {
      ...keys,
      algorithms: [...keys.algorithms, STABLE_NAMES.prefix + MANDATORY_CIPHERSUITE],
    };
    expect(verifyDeviceKeys(tampered, USER, DEVICE)).toBeUndefined();
  });

  it("D19 refuses a signature by a key other than the credential's", () => {
    const device = newMlsDevice(USER, DEVICE);
    const { signatures: _signatures, ...unsignedKeys } = helperDeviceKeys(device);
    expect(
      verifyDeviceKeys(signed(unsignedKeys, USER, KEY_ID, newSigningKey()), USER, DEVICE),
    ).toBeUndefined();
  });

  it("section 9 refuses keys whose credential names another device", () => {
    const device = newMlsDevice(USER, DEVICE, { userId: USER, deviceId: "OTHER" });
    expect(verifyDeviceKeys(helperDeviceKeys(device), USER, DEVICE)).toBeUndefined();
  });

  it("refuses keys of another user or device than asked for", async () => {
    const { keys } = await built();
    expect([
      verifyDeviceKeys(keys, "@bob:example.org", DEVICE),
      verifyDeviceKeys(keys, USER, "OTHER"),
    ]).toEqual([undefined, undefined]);
  });

  it("section 9 refuses device keys without an MLS credential (an Olm-only device)", () => {
    const olm = newSigningKey();
    const keys = signed(
      {
        user_id: USER,
        device_id: DEVICE,
        algorithms: ["m.olm.v1.curve25519-aes-sha2"],
        keys: { [`ed25519:${DEVICE}`]: olm.publicKey },
      },
      USER,
      `ed25519:${DEVICE}`,
      olm,
    );
    expect(verifyDeviceKeys(keys, USER, DEVICE)).toBeUndefined();
  });

  it("section 9 refuses device keys that list no MLS algorithm", async () => {
    const device = newMlsDevice(USER, DEVICE);
    const keys = signed(
      {
        user_id: USER,
        device_id: DEVICE,
        algorithms: [],
        keys: { [KEY_ID]: encodeBase64Url(device.credential) },
      },
      USER,
      KEY_ID,
      device.signatureKey,
    );
    expect(verifyDeviceKeys(keys, USER, DEVICE)).toBeUndefined();
  });

  it("refuses a credential that is not D18 base64 of a basic credential", () => {
    const device = newMlsDevice(USER, DEVICE);
    const broken = encodeCredential({
      userId: USER,
      deviceId: DEVICE,
      signaturePublicKey: new Uint8Array(32),
    });
    broken[1] = 2;
    const keys = signed(
      {
        user_id: USER,
        device_id: DEVICE,
        algorithms: [UNSTABLE_NAMES.prefix + MANDATORY_CIPHERSUITE],
        keys: { [KEY_ID]: encodeBase64Url(broken) },
      },
      USER,
      KEY_ID,
      device.signatureKey,
    );
    expect([verifyDeviceKeys(keys, USER, DEVICE), verifyDeviceKeys("not keys", USER, DEVICE)]).toEqual([
      undefined,
      undefined,
    ]);
  });
});

describe("ed25519Seed", () => {
  it("reads the seed out of the PKCS#8 signKey ts-mls returns where WebCrypto has Ed25519", async () => {
    const pair = await generateSignatureKeyPair();
    expect(ed25519.getPublicKey(ed25519Seed(pair))).toEqual(pair.publicKey);
  });

  it("takes a raw 32-byte seed as it is", () => {
    const seed = ed25519.utils.randomSecretKey();
    expect(ed25519Seed({ signKey: seed, publicKey: ed25519.getPublicKey(seed) })).toEqual(seed);
  });

  it("refuses a key pair whose halves do not belong together", () => {
    const pair = { signKey: ed25519.utils.randomSecretKey(), publicKey: newSigningKey().publicBytes };
    expect(() => ed25519Seed(pair)).toThrow(DeviceTrustError);
  });
});
