import { describe, expect, it } from "vitest";
import {
  CredentialError,
  decodeCredential,
  decodeIdentity,
  encodeCredential,
  encodeIdentity,
  type DeviceIdentity,
} from "../../src/protocol/credential.js";

const alice: DeviceIdentity = {
  userId: "@alice:example.org",
  deviceId: "DEVICÉ",
  signaturePublicKey: new Uint8Array(32).fill(7),
};

describe("section 9 credential identity", () => {
  it("encodes user_id, device_id and key as RFC 9420 vectors in that order", () => {
    const bytes = encodeIdentity({ userId: "@a:b", deviceId: "D", signaturePublicKey: new Uint8Array([9]) });
    expect([...bytes]).toEqual([4, 0x40, 0x61, 0x3a, 0x62, 1, 0x44, 1, 9]);
  });
  it("round-trips through encode and decode", () => {
    expect(decodeIdentity(encodeIdentity(alice))).toEqual(alice);
  });
  it("uses a two-byte varint length for vectors of 64 bytes or more", () => {
    const bytes = encodeIdentity({ ...alice, signaturePublicKey: new Uint8Array(64) });
    const keyStart = bytes.length - 66;
    expect([bytes[keyStart], bytes[keyStart + 1]]).toEqual([0x40, 64]);
    expect(decodeIdentity(bytes).signaturePublicKey).toHaveLength(64);
  });
  it("rejects trailing bytes", () => {
    const bytes = new Uint8Array([...encodeIdentity(alice), 0]);
    expect(() => decodeIdentity(bytes)).toThrow(CredentialError);
  });
  it("rejects a vector that runs past the end", () => {
    const bytes = encodeIdentity(alice).subarray(0, -1);
    expect(() => decodeIdentity(bytes)).toThrow(CredentialError);
  });
  it("rejects a length that is not minimally encoded", () => {
    expect(() => decodeIdentity(new Uint8Array([0x40, 1, 0x61, 1, 0x44, 1, 9]))).toThrow(CredentialError);
  });
  it("rejects the reserved 0b11 varint prefix", () => {
    expect(() => decodeIdentity(new Uint8Array([0xc0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(CredentialError);
  });
  it("rejects a user_id that is not UTF-8", () => {
    expect(() => decodeIdentity(new Uint8Array([1, 0xff, 1, 0x44, 1, 9]))).toThrow(CredentialError);
  });
  it("refuses to encode a lone surrogate", () => {
    expect(() => encodeIdentity({ ...alice, deviceId: "\ud800" })).toThrow(CredentialError);
  });
});

describe("D18 serialized Credential", () => {
  it("is credential type 1 then the identity vector", () => {
    const bytes = encodeCredential(alice);
    const identity = encodeIdentity(alice);
    expect([...bytes.subarray(0, 3)]).toEqual([0, 1, identity.length]);
    expect(bytes.subarray(3)).toEqual(identity);
  });
  it("round-trips through encode and decode", () => {
    expect(decodeCredential(encodeCredential(alice))).toEqual(alice);
  });
  it("rejects a credential type other than basic", () => {
    const bytes = encodeCredential(alice);
    bytes[1] = 2;
    expect(() => decodeCredential(bytes)).toThrow(CredentialError);
  });
  it("rejects trailing bytes", () => {
    expect(() => decodeCredential(new Uint8Array([...encodeCredential(alice), 0]))).toThrow(CredentialError);
  });
  it("rejects input shorter than the credential type", () => {
    expect(() => decodeCredential(new Uint8Array([0]))).toThrow(CredentialError);
  });
});
