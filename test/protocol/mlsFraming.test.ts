// Section 3: what a server reads from a ciphertext without keys, and D21's clear error for
// anything that is not one well-formed mls_private_message.
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { MLS_CONTENT_TYPE, MlsFramingError, readMlsFraming } from "../../src/protocol/mlsFraming.js";
import { applicationBytes, commitBytes, keyPackageBytes, newGroup, proposalBytes } from "../helpers/mls.js";
import type { ClientState } from "ts-mls";

const ROOM = "!framing:a.example";
let group: ClientState; // epoch 1, after one commit
let commit: Uint8Array; // framed in epoch 0

beforeAll(async () => {
  const first = await commitBytes(await newGroup(ROOM), Uint8Array.of(0xa0, 1, 2));
  commit = first.bytes;
  group = first.newState;
});

function framingError(bytes: Uint8Array): string | undefined {
  try {
    readMlsFraming(bytes);
    return undefined;
  } catch (error) {
    if (error instanceof MlsFramingError) return error.message;
    throw error;
  }
}

describe("readMlsFraming", () => {
  it("reads the group ID of a commit as the room ID's UTF-8", () => {
    expect(new TextDecoder().decode(readMlsFraming(commit).groupId)).toBe(ROOM);
  });
  it("reads the epoch a commit is framed in", () => {
    expect(readMlsFraming(commit).epoch).toBe(0n);
  });
  it("reads the commit content type", () => {
    expect(readMlsFraming(commit).contentType).toBe(MLS_CONTENT_TYPE.commit);
  });
  it("reads the authenticated data unencrypted", () => {
    expect([...readMlsFraming(commit).authenticatedData]).toEqual([0xa0, 1, 2]);
  });
  it("reads an application message of the next epoch", async () => {
    const framing = readMlsFraming(await applicationBytes(group, "hi"));
    expect([framing.contentType, framing.epoch]).toEqual([MLS_CONTENT_TYPE.application, 1n]);
  });
  it("reads a proposal", async () => {
    expect(readMlsFraming(await proposalBytes(group)).contentType).toBe(MLS_CONTENT_TYPE.proposal);
  });
  it("refuses a key package, which is not an mls_private_message", async () => {
    expect(framingError(await keyPackageBytes())).toMatch(/wire format 5/);
  });
  it("refuses a truncated private message", () => {
    expect(framingError(commit.subarray(0, commit.length - 1))).toBeDefined();
  });
  it("refuses a private message followed by trailing bytes", () => {
    expect(framingError(Uint8Array.of(...commit, 0))).toMatch(/trailing/);
  });
  it("refuses empty input", () => {
    expect(framingError(new Uint8Array())).toBeDefined();
  });
  it("throws nothing but MlsFramingError for arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const outcome = framingError(bytes);
        return outcome === undefined || typeof outcome === "string";
      }),
    );
  });
  it("throws nothing but MlsFramingError for corrupted real messages", () => {
    fc.assert(
      fc.property(fc.nat(commit.length - 1), fc.integer({ min: 0, max: 255 }), (index, value) => {
        const corrupted = Uint8Array.from(commit);
        corrupted[index] = value;
        const outcome = framingError(corrupted);
        return outcome === undefined || typeof outcome === "string";
      }),
    );
  });
});
