// How the CLI shows things to people, and how it reads room names and user names.
import { describe, expect, it } from "vitest";
import type { ClientEvent, RoomSummary, TimelineMessage } from "../../src/client/events.js";
import { CliError } from "../../src/cli/errors.js";
import { formatEvent, formatMessage, formatRoom, formatTime } from "../../src/cli/output.js";
import { qualifyUser, resolveRoom } from "../../src/cli/resolve.js";

const NOW = new Date(2025, 10, 27, 15, 0);

function message(body: string, ts = new Date(2025, 10, 27, 12, 3).getTime()): TimelineMessage {
  return {
    roomId: "!r:localhost",
    eventId: "$e",
    sender: { userId: "@alice:localhost", deviceId: "ALICEDEV" },
    type: "m.room.message",
    content: { msgtype: "m.text", body },
    originServerTs: ts,
    own: false,
  };
}

function room(
  roomId: string,
  name: string | undefined,
  membership: RoomSummary["membership"],
  removed = false,
): RoomSummary {
  return { roomId, membership, removed, memberCount: 1, ...(name === undefined ? {} : { name }) };
}

describe("human output", () => {
  it("shows a message as [HH:MM] user (DEVICE): text", () => {
    expect(formatMessage(message("hello"), NOW)).toBe("[12:03] @alice:localhost (ALICEDEV): hello");
  });

  it("adds the date to a message of another day", () => {
    expect(formatTime(new Date(2025, 10, 26, 9, 5).getTime(), NOW)).toBe("2025-11-26 09:05");
  });

  it("shows a message without a text body by its type", () => {
    const sticker = { ...message("x"), type: "m.sticker", content: {} };
    expect(formatMessage(sticker, NOW)).toBe("[12:03] @alice:localhost (ALICEDEV): <m.sticker>");
  });

  it("shows a topic change and says nothing for an accepted commit", () => {
    const topic: ClientEvent = {
      kind: "state",
      roomId: "!r:l",
      eventType: "m.room.topic",
      stateKey: "",
      content: { topic: "t" },
    };
    expect(formatEvent(topic)).toBe('* topic is now "t"');
    expect(
      formatEvent({
        kind: "commit",
        roomId: "!r:l",
        intent: { kind: "selfUpdate" },
        outcome: "accepted",
        epoch: 3,
      }),
    ).toBeUndefined();
  });
});

describe("room lines", () => {
  it("count the members of a joined room", () => {
    expect(formatRoom(room("!a:l", "lobby", "joined"))).toBe('!a:l "lobby" (joined, 1 members)');
  });
  it("say when this device was removed from the room's group", () => {
    expect(formatRoom(room("!a:l", "lobby", "joined", true))).toBe(
      '!a:l "lobby" (joined, removed from the group)',
    );
  });
});

describe("ROOM and USER arguments", () => {
  const rooms = [
    room("!a:l", "lobby", "joined"),
    room("!b:l", "lobby", "left"),
    room("!c:l", "dup", "joined"),
    room("!d:l", "dup", "joined"),
  ];

  it("finds a room by ID", () => {
    expect(resolveRoom(rooms, "!b:l").roomId).toBe("!b:l");
  });

  it("prefers the room one is still in when a left room has the same name", () => {
    expect(resolveRoom(rooms, "lobby").roomId).toBe("!a:l");
  });

  it("refuses an unknown room with a hint to list rooms", () => {
    const error = (() => {
      try {
        resolveRoom(rooms, "nowhere");
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).hint).toContain("myelin rooms");
    expect(() => resolveRoom(rooms, "!zzz:l")).toThrow(/unknown room/);
  });

  it("refuses an ambiguous name, listing the candidates", () => {
    expect(() => resolveRoom(rooms, "dup")).toThrow(/!c:l, !d:l/);
  });

  it("puts a bare user name on one's own server", () => {
    expect(qualifyUser("bob", "@alice:localhost:8008")).toBe("@bob:localhost:8008");
    expect(qualifyUser("@bob:other.org", "@alice:localhost")).toBe("@bob:other.org");
    expect(() => qualifyUser("@bob", "@alice:localhost")).toThrow(CliError);
  });
});
