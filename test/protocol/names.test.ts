// Section 2 and D1: the two name sets never mix; proposed_commit reads as the pending commit.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_ROOM_VERSION,
  eventKind,
  isMlsRoomVersion,
  MLS_ROOM_VERSIONS,
  namesForRoomVersion,
  STABLE_NAMES,
  UNSTABLE_NAMES,
} from "../../src/protocol/names.js";

describe("section 2 names", () => {
  it("uses the unstable room version for new rooms", () => {
    expect(DEFAULT_ROOM_VERSION).toBe("de.bwi.mls.v1");
  });
  it("knows both MLS room versions", () => {
    expect([...MLS_ROOM_VERSIONS].sort()).toEqual(["de.bwi.mls.v1", "m.mls.1"]);
  });
  it("gives the stable name set for m.mls.1", () => {
    expect(namesForRoomVersion("m.mls.1")).toBe(STABLE_NAMES);
  });
  it("knows no names for a non-MLS room version", () => {
    expect(isMlsRoomVersion("11")).toBe(false);
  });
  it("reads the unstable commit type as a commit in an unstable room", () => {
    expect(eventKind(UNSTABLE_NAMES, "de.bwi.mls.commit")).toBe("commit");
  });
  it("does not read the stable commit type as a commit in an unstable room", () => {
    expect(eventKind(UNSTABLE_NAMES, "m.mls.commit")).toBeUndefined();
  });
  it("D1 reads proposed_commit as the pending commit", () => {
    expect(eventKind(STABLE_NAMES, "m.mls.proposed_commit")).toBe("pending");
  });
  it("D4 knows no kind for m.room.message", () => {
    expect(eventKind(STABLE_NAMES, "m.room.message")).toBeUndefined();
  });
});
