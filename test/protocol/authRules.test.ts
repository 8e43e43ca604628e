// Section 4: every rule and sub-rule rejects at least one event and lets one pass. Every
// ciphertext is a real MLS message made with ts-mls.
import { beforeAll, describe, expect, it } from "vitest";
import { authorizeAgainstState, authorizeEvent, type AuthOutcome } from "../../src/protocol/auth/rules.js";
import { encodeBase64, encodeBase64Url } from "../../src/protocol/base64.js";
import { encodeFederationObject } from "../../src/protocol/federationObject.js";
import { STABLE_NAMES } from "../../src/protocol/names.js";
import type { UnsignedPdu } from "../../src/protocol/pdu/types.js";
import { applicationBytes, commitBytes, keyPackageBytes, newGroup, proposalBytes } from "../helpers/mls.js";
import { accepted, federation, lookupOf, roomFixture, signed, type RoomFixture } from "../helpers/room.js";

function check(room: RoomFixture, event: UnsignedPdu, extra: Parameters<typeof lookupOf> = []): AuthOutcome {
  const lookup = extra.length === 0 ? room.lookup : lookupOf(room.create, room.commit0, ...extra);
  return authorizeEvent(signed(event).pdu, lookup);
}

function rejectedBy(outcome: AuthOutcome): string | undefined {
  return outcome.ok ? undefined : outcome.rejection.rule;
}

const A = "a.example";
const B = "b.example";
const C = "c.example";

let room: RoomFixture; // a.example alone: servers [a], powers [a]
let shared: RoomFixture; // servers [a, b, c], powers [a, b], can_propose [b, c]

beforeAll(async () => {
  room = await roomFixture();
  shared = await roomFixture({
    federation: federation({ servers: [A, B, C], powers: [A, B], canPropose: [B, C] }),
  });
});

/** Commit-framed MLS bytes at epoch 1 of `fixture` carrying `fed` as authenticated data. */
async function nextCommit(fixture: RoomFixture, fed = federation({ servers: [A] })) {
  return commitBytes(fixture.group, encodeFederationObject(fed));
}

function commitEvent(
  fixture: RoomFixture,
  origin: string,
  bytes: Uint8Array,
  fields: Partial<UnsignedPdu> = {},
) {
  return fixture.event({
    type: fixture.names.commitType,
    state_key: "",
    origin,
    content: fixture.mlsContent(bytes),
    ...fields,
  });
}

function pendingEvent(fixture: RoomFixture, origin: string, bytes: Uint8Array) {
  return fixture.event({ type: fixture.names.pendingType, origin, content: fixture.mlsContent(bytes) });
}

async function messageEvent(fixture: RoomFixture, origin = A, fields: Partial<UnsignedPdu> = {}) {
  return fixture.event({
    type: "m.room.encrypted",
    origin,
    content: fixture.mlsContent(await applicationBytes(fixture.group, "hello")),
    ...fields,
  });
}

describe("R1 state_key values", () => {
  it("R1 rejects a state_key that is not empty", async () => {
    const { bytes } = await nextCommit(room);
    expect(rejectedBy(check(room, commitEvent(room, A, bytes, { state_key: "x" })))).toBe("R1");
  });
  it('R1 lets a commit with state_key "" pass', async () => {
    const { bytes } = await nextCommit(room);
    expect(check(room, commitEvent(room, A, bytes)).ok).toBe(true);
  });
});

describe("R2 event types and state keys", () => {
  it("R2 rejects a state_key on m.room.encrypted", async () => {
    expect(rejectedBy(check(room, await messageEvent(room, A, { state_key: "" })))).toBe("R2");
  });
  it("R2 (D4) rejects any type outside the four, such as m.room.message", async () => {
    const event = room.event({ type: "m.room.message", origin: A, content: { body: "plaintext" } });
    expect(rejectedBy(check(room, event))).toBe("R2");
  });
  it("R2 (section 2) rejects the stable commit type in a room of the unstable version", async () => {
    const { bytes } = await nextCommit(room);
    expect(rejectedBy(check(room, commitEvent(room, A, bytes, { type: STABLE_NAMES.commitType })))).toBe(
      "R2",
    );
  });
  it("R2 lets m.room.encrypted without a state_key pass", async () => {
    expect(check(room, await messageEvent(room)).ok).toBe(true);
  });
  it("R2 lets the stable names pass in a room of the stable version", async () => {
    const stable = await roomFixture({ names: STABLE_NAMES });
    const { bytes } = await nextCommit(stable);
    expect(check(stable, commitEvent(stable, A, bytes)).ok).toBe(true);
  });
});

describe("R3 the create event", () => {
  /** A create event; a content field given as undefined is left out. */
  const create = (fields: Partial<UnsignedPdu> = {}, content: Record<string, unknown> = {}): UnsignedPdu => {
    const merged: Record<string, unknown> = {
      room_version: "de.bwi.mls.v1",
      algorithm: room.algorithm,
      ...content,
    };
    for (const key of Object.keys(merged)) if (merged[key] === undefined) delete merged[key];
    return {
      room_id: "!new:a.example",
      type: "m.room.create",
      state_key: "",
      origin: A,
      origin_server_ts: 1,
      content: merged,
      prev_events: [],
      auth_events: [],
      ...fields,
    };
  };
  const judge = (event: UnsignedPdu) => rejectedBy(authorizeEvent(signed(event).pdu, () => undefined));

  it("R3 lets a well-formed create event pass", () => {
    expect(judge(create())).toBeUndefined();
  });
  it("R3 rejects a create event without a state_key", () => {
    const { state_key: _omitted, ...event } = create();
    expect(judge(event)).toBe("R3");
  });
  it("R3 rejects a create event with prev_events", () => {
    expect(judge(create({ prev_events: [room.create.eventId] }))).toBe("R3");
  });
  it("R3 rejects a create event with auth_events", () => {
    expect(judge(create({ auth_events: [room.create.eventId] }))).toBe("R3");
  });
  it("R3 rejects a room_version that is not an MLS version", () => {
    expect(judge(create({}, { room_version: "11" }))).toBe("R3");
  });
  it("R3 rejects an origin that is not the room ID's server", () => {
    expect(judge(create({ origin: B }))).toBe("R3");
  });
  it("R3 rejects a create event without an algorithm", () => {
    expect(judge(create({}, { algorithm: undefined }))).toBe("R3");
  });
  it("R3 rejects an empty algorithm", () => {
    expect(judge(create({}, { algorithm: "" }))).toBe("R3");
  });
  it("R3 (D3) accepts encryption_algorithm as the algorithm field", () => {
    expect(
      judge(create({}, { algorithm: undefined, encryption_algorithm: "de.bwi.mls.v1.X" })),
    ).toBeUndefined();
  });
  it("R3 (D3) rejects algorithm and encryption_algorithm with different values", () => {
    expect(judge(create({}, { encryption_algorithm: "de.bwi.mls.v1.other" }))).toBe("R3");
  });
});

describe("R4 auth events (D16)", () => {
  it("R4 lets an event with exactly the create event and the commit pass", async () => {
    expect(check(room, await messageEvent(room)).ok).toBe(true);
  });
  it("R4 rejects an event whose auth events lack the create event", async () => {
    expect(
      rejectedBy(check(room, await messageEvent(room, A, { auth_events: [room.commit0.eventId] }))),
    ).toBe("R4");
  });
  it("R4 rejects an event whose auth events lack a commit", async () => {
    expect(rejectedBy(check(room, await messageEvent(room, A, { auth_events: [room.create.eventId] })))).toBe(
      "R4",
    );
  });
  it("R4 rejects an auth event that is unknown or did not pass the checks", async () => {
    const missing = "$" + "A".repeat(43);
    const event = await messageEvent(room, A, { auth_events: [room.create.eventId, missing] });
    expect(rejectedBy(check(room, event))).toBe("R4");
  });
  it("R4 rejects any other event among the auth events", async () => {
    const other = accepted(await messageEvent(room));
    const event = await messageEvent(room, A, {
      auth_events: [room.create.eventId, room.commit0.eventId, other.eventId],
    });
    expect(rejectedBy(check(room, event, [other]))).toBe("R4");
  });
  it("R4 rejects two commits among the auth events", async () => {
    const { bytes } = await nextCommit(room);
    const second = accepted(commitEvent(room, A, bytes));
    const event = await messageEvent(room, A, {
      auth_events: [room.create.eventId, room.commit0.eventId, second.eventId],
    });
    expect(rejectedBy(check(room, event, [second]))).toBe("R4");
  });
  it("R4 rejects an auth event listed twice", async () => {
    const event = await messageEvent(room, A, {
      auth_events: [room.create.eventId, room.create.eventId, room.commit0.eventId],
    });
    expect(rejectedBy(check(room, event))).toBe("R4");
  });
  it("R4 (D16) rejects an epoch-0 commit with a commit in its auth events", async () => {
    const { bytes } = await commitBytes(await newGroup(room.roomId), encodeFederationObject(federation()));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R4");
  });
  it("R4 (D16) lets the epoch-0 commit with only the create event pass", () => {
    expect(authorizeEvent(room.commit0.pdu, room.lookup).ok).toBe(true);
  });
});

describe("R5 m.federate", () => {
  let closed: RoomFixture;
  beforeAll(async () => {
    closed = await roomFixture({
      createContent: { "m.federate": false },
      federation: federation({ servers: [A, B] }),
    });
  });
  it("R5 rejects an event from another server in a room that does not federate", async () => {
    expect(rejectedBy(check(closed, await messageEvent(closed, B)))).toBe("R5");
  });
  it("R5 lets the creator's server send in a room that does not federate", async () => {
    expect(check(closed, await messageEvent(closed, A)).ok).toBe(true);
  });
});

describe("R6 origin in servers", () => {
  it("R6 rejects an origin that is not in servers of the commit", async () => {
    expect(rejectedBy(check(room, await messageEvent(room, B)))).toBe("R6");
  });
  it("R6 lets a server listed in servers send", async () => {
    expect(check(shared, await messageEvent(shared, C)).ok).toBe(true);
  });
});

describe("R7 room and group ID", () => {
  it("R7 rejects a room_id that differs from the create event's", async () => {
    const event = await messageEvent(room, A, { room_id: "!other:a.example" });
    expect(
      rejectedBy(authorizeAgainstState(signed(event).pdu, { create: room.create, commit: room.commit0 })),
    ).toBe("R7");
  });
  it("R7 rejects an MLS group_id that differs from the room ID", async () => {
    const foreign = await commitBytes(
      await newGroup("!elsewhere:a.example"),
      encodeFederationObject(federation()),
    );
    const event = room.event({
      type: "m.room.encrypted",
      origin: A,
      content: room.mlsContent(await applicationBytes(foreign.newState)),
    });
    expect(rejectedBy(check(room, event))).toBe("R7");
  });
  it("R7 lets a message of the room's own group pass", async () => {
    expect(check(room, await messageEvent(room)).ok).toBe(true);
  });
});

describe("R8 algorithm", () => {
  it("R8 rejects an algorithm that differs from the create event's", async () => {
    const event = await messageEvent(room);
    const content = { ...event.content, algorithm: "de.bwi.mls.v1.MLS_128_DHKEMP256_AES128GCM_SHA256_P256" };
    expect(rejectedBy(check(room, { ...event, content }))).toBe("R8");
  });
  it("R8 lets the create event's algorithm pass", async () => {
    expect(check(room, await messageEvent(room)).ok).toBe(true);
  });
});

describe("R9 commits", () => {
  it("R9.1 rejects a commit without a state_key", async () => {
    const { bytes } = await nextCommit(room);
    const { state_key: _omitted, ...event } = commitEvent(room, A, bytes);
    expect(rejectedBy(check(room, event))).toBe("R9.1");
  });
  it("R9.2 rejects an epoch-0 commit from a server other than the room's", async () => {
    const { bytes } = await commitBytes(
      await newGroup(room.roomId),
      encodeFederationObject(federation({ servers: [B] })),
    );
    const event = commitEvent(room, B, bytes, { auth_events: [room.create.eventId] });
    expect(rejectedBy(check(room, event))).toBe("R9.2");
  });
  it("R9.2 (D21) rejects an epoch-0 commit into a room that already has one", async () => {
    const { bytes } = await commitBytes(await newGroup(room.roomId), encodeFederationObject(federation()));
    const event = commitEvent(room, A, bytes, { auth_events: [room.create.eventId] });
    const state = { create: room.create, commit: room.commit0 };
    expect(rejectedBy(authorizeAgainstState(signed(event).pdu, state))).toBe("R9.2");
  });
  it("R9.2 lets the room's server send the epoch-0 commit", () => {
    expect(authorizeAgainstState(room.commit0.pdu, { create: room.create }).ok).toBe(true);
  });
  it("R9.3 rejects a commit whose epoch skips one", async () => {
    const epoch1 = await nextCommit(room);
    const { bytes } = await commitBytes(epoch1.newState, encodeFederationObject(federation()));
    const outcome = check(room, commitEvent(room, A, bytes));
    expect(outcome.ok ? undefined : [outcome.rejection.rule, outcome.rejection.kind]).toEqual([
      "R9.3",
      "epoch",
    ]);
  });
  it("R9.3 lets a commit of exactly the next epoch pass", async () => {
    const { bytes } = await nextCommit(room);
    expect(check(room, commitEvent(room, A, bytes)).ok).toBe(true);
  });
  it("R9.4 rejects an application message sent as a commit", async () => {
    const bytes = await applicationBytes(room.group, "x", encodeFederationObject(federation()));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.4");
  });
  it("R9.4 rejects a proposal sent as a commit", async () => {
    const bytes = await proposalBytes(room.group, encodeFederationObject(federation()));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.4");
  });
  it("R9.5 rejects empty servers", async () => {
    const { bytes } = await nextCommit(room, federation({ servers: [], powers: [A] }));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.5");
  });
  it("R9.5 rejects an invalid server name in servers", async () => {
    const { bytes } = await nextCommit(room, federation({ servers: [A, "bad name!"], powers: [A] }));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.5");
  });
  it("R9.6 rejects empty powers", async () => {
    const { bytes } = await nextCommit(room, federation({ servers: [A], powers: [] }));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.6");
  });
  it("R9.6 rejects an invalid server name in powers", async () => {
    const { bytes } = await nextCommit(room, federation({ servers: [A], powers: [A, "a.example:0"] }));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.6");
  });
  it("R9.7 rejects a commit from a server that is not a power of the previous commit", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [A, B, C], powers: [A, B] }));
    expect(rejectedBy(check(shared, commitEvent(shared, C, bytes)))).toBe("R9.7");
  });
  it("R9.7 lets a lower-ranked power send a commit", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [A, B, C], powers: [A, B] }));
    expect(check(shared, commitEvent(shared, B, bytes)).ok).toBe(true);
  });
  it("R9.8 rejects a power that is not in servers", async () => {
    const { bytes } = await nextCommit(room, federation({ servers: [A], powers: [A, B] }));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.8");
  });
  it("R9.9 rejects a commit that demotes a server ranked above its origin", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [A, B, C], powers: [B, A] }));
    expect(rejectedBy(check(shared, commitEvent(shared, B, bytes)))).toBe("R9.9");
  });
  it("R9.9 rejects a commit that removes a server ranked above its origin", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [A, B, C], powers: [B] }));
    expect(rejectedBy(check(shared, commitEvent(shared, B, bytes)))).toBe("R9.9");
  });
  it("R9.9 lets a server change the ranks below its own", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [A, B, C], powers: [A, C, B] }));
    expect(check(shared, commitEvent(shared, B, bytes)).ok).toBe(true);
  });
  it("R9.9 lets the first power reorder every rank", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [A, B, C], powers: [B, A] }));
    expect(check(shared, commitEvent(shared, A, bytes)).ok).toBe(true);
  });
  it("R9.10 rejects a can_propose entry that is not in servers", async () => {
    const { bytes } = await nextCommit(room, federation({ servers: [A], powers: [A], canPropose: [B] }));
    expect(rejectedBy(check(room, commitEvent(room, A, bytes)))).toBe("R9.10");
  });
  it("R9.11 lets a commit that meets every rule pass, with its federation object", async () => {
    const fed = federation({ servers: [A, B], powers: [A], canPropose: [B] });
    const { bytes } = await nextCommit(room, fed);
    const outcome = check(room, commitEvent(room, A, bytes));
    expect(outcome.ok ? outcome.federation : undefined).toEqual(fed);
  });
  it("D7 rejects a commit whose authenticated data is not a federation object as malformed", async () => {
    const { bytes } = await commitBytes(room.group, new TextEncoder().encode("not cbor {"));
    const outcome = check(room, commitEvent(room, A, bytes));
    expect(outcome.ok ? undefined : [outcome.rejection.rule, outcome.rejection.kind]).toEqual([
      "D7",
      "malformed",
    ]);
  });
});

describe("R10 pending commits", () => {
  const sharedFed = () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [B, C] });

  it("R10.1 rejects a pending commit whose epoch is not the next", async () => {
    const epoch1 = await nextCommit(shared, sharedFed());
    const { bytes } = await commitBytes(epoch1.newState, encodeFederationObject(sharedFed()));
    const outcome = check(shared, pendingEvent(shared, C, bytes));
    expect(outcome.ok ? undefined : [outcome.rejection.rule, outcome.rejection.kind]).toEqual([
      "R10.1",
      "epoch",
    ]);
  });
  it("R10.2 rejects an application message sent as a pending commit", async () => {
    const bytes = await applicationBytes(shared.group, "x", encodeFederationObject(sharedFed()));
    expect(rejectedBy(check(shared, pendingEvent(shared, C, bytes)))).toBe("R10.2");
  });
  it("R10.3 rejects empty servers", async () => {
    const { bytes } = await nextCommit(shared, federation({ servers: [], powers: [A, B] }));
    expect(rejectedBy(check(shared, pendingEvent(shared, C, bytes)))).toBe("R10.3");
  });
  it("R10.3 rejects an invalid server name in servers", async () => {
    const { bytes } = await nextCommit(
      shared,
      federation({ servers: [A, B, C, "bad name!"], powers: [A, B], canPropose: [C] }),
    );
    expect(rejectedBy(check(shared, pendingEvent(shared, C, bytes)))).toBe("R10.3");
  });
  it("R10.4 rejects a pending commit that changes powers", async () => {
    const { bytes } = await nextCommit(
      shared,
      federation({ servers: [A, B, C], powers: [A, C], canPropose: [C] }),
    );
    expect(rejectedBy(check(shared, pendingEvent(shared, C, bytes)))).toBe("R10.4");
  });
  it("R10.5 rejects a pending commit from a server not in can_propose", async () => {
    const { bytes } = await nextCommit(shared, sharedFed());
    expect(rejectedBy(check(shared, pendingEvent(shared, A, bytes)))).toBe("R10.5");
  });
  it("R10.6 rejects a pending commit that drops a power from servers", async () => {
    const { bytes } = await nextCommit(
      shared,
      federation({ servers: [A, C], powers: [A, B], canPropose: [C] }),
    );
    expect(rejectedBy(check(shared, pendingEvent(shared, C, bytes)))).toBe("R10.6");
  });
  it("R10.7 rejects a can_propose entry that is not in servers", async () => {
    const { bytes } = await nextCommit(
      shared,
      federation({ servers: [A, B], powers: [A, B], canPropose: [C] }),
    );
    expect(rejectedBy(check(shared, pendingEvent(shared, B, bytes)))).toBe("R10.7");
  });
  it("R10.8 lets a pending commit that meets every rule pass", async () => {
    const { bytes } = await nextCommit(shared, sharedFed());
    expect(check(shared, pendingEvent(shared, C, bytes)).ok).toBe(true);
  });
  it("D1 treats the proposed_commit type exactly like the pending commit type", async () => {
    const { bytes } = await nextCommit(
      shared,
      federation({ servers: [A, B, C], powers: [A, C], canPropose: [C] }),
    );
    const event = { ...pendingEvent(shared, C, bytes), type: shared.names.proposedCommitAlias };
    expect(rejectedBy(check(shared, event))).toBe("R10.4");
  });
});

describe("R11 and R12 encrypted messages", () => {
  it("R11 rejects a message of an epoch before the current commit", async () => {
    const epoch0 = await newGroup(room.roomId);
    const event = room.event({
      type: "m.room.encrypted",
      origin: A,
      content: room.mlsContent(await applicationBytes(epoch0)),
    });
    const outcome = check(room, event);
    expect(outcome.ok ? undefined : [outcome.rejection.rule, outcome.rejection.kind]).toEqual([
      "R11",
      "epoch",
    ]);
  });
  it("R11 (D9) rejects a commit sent inside m.room.encrypted", async () => {
    const { bytes } = await nextCommit(room);
    const event = room.event({ type: "m.room.encrypted", origin: A, content: room.mlsContent(bytes) });
    expect(rejectedBy(check(room, event))).toBe("D9");
  });
  it("R12 lets an application message of the next epoch pass", async () => {
    expect(check(room, await messageEvent(room)).ok).toBe(true);
  });
  it("R12 lets a proposal inside m.room.encrypted pass", async () => {
    const event = room.event({
      type: "m.room.encrypted",
      origin: A,
      content: room.mlsContent(await proposalBytes(room.group)),
    });
    expect(check(room, event).ok).toBe(true);
  });
});

describe("D5 and D21 ciphertext encoding", () => {
  it("D5 accepts a ciphertext in standard base64 with padding", async () => {
    const bytes = await applicationBytes(room.group);
    const standard = encodeBase64(bytes) + "=".repeat((4 - (encodeBase64(bytes).length % 4)) % 4);
    const event = room.event({
      type: "m.room.encrypted",
      origin: A,
      content: { algorithm: room.algorithm, ciphertext: standard },
    });
    expect(check(room, event).ok).toBe(true);
  });
  it("D21 rejects a ciphertext that is not base64 as malformed", async () => {
    const event = room.event({
      type: "m.room.encrypted",
      origin: A,
      content: { algorithm: room.algorithm, ciphertext: "%%%" },
    });
    const outcome = check(room, event);
    expect(outcome.ok ? undefined : [outcome.rejection.rule, outcome.rejection.kind]).toEqual([
      "D21",
      "malformed",
    ]);
  });
  it("D21 rejects an MLS key package in place of a private message", async () => {
    const content = { algorithm: room.algorithm, ciphertext: encodeBase64Url(await keyPackageBytes()) };
    expect(rejectedBy(check(room, room.event({ type: "m.room.encrypted", origin: A, content })))).toBe("D21");
  });
  it("D21 rejects a private message followed by trailing bytes", async () => {
    const bytes = await applicationBytes(room.group);
    const content = room.mlsContent(Uint8Array.of(...bytes, 0));
    expect(rejectedBy(check(room, room.event({ type: "m.room.encrypted", origin: A, content })))).toBe("D21");
  });
});

describe("every sub-rule of R9 and R10 lets a commit that meets it pass", () => {
  type Case = [
    rule: string,
    what: string,
    kind: "commit" | "pending",
    origin: string,
    fed: () => ReturnType<typeof federation>,
  ];
  const cases: Case[] = [
    [
      "R9.1",
      'a commit with state_key ""',
      "commit",
      A,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [B, C] }),
    ],
    [
      "R9.4",
      "a commit-framed MLS message",
      "commit",
      A,
      () => federation({ servers: [A, B, C], powers: [A, B] }),
    ],
    [
      "R9.5",
      "servers given as IP literals with ports",
      "commit",
      A,
      () => federation({ servers: [A, B, C, "[::1]:8448", "127.0.0.1:8008"], powers: [A, B] }),
    ],
    [
      "R9.6",
      "powers of valid names",
      "commit",
      A,
      () => federation({ servers: [A, B, C], powers: [A, B, C] }),
    ],
    [
      "R9.8",
      "powers a strict subset of servers",
      "commit",
      A,
      () => federation({ servers: [A, B, C], powers: [A] }),
    ],
    [
      "R9.10",
      "can_propose a subset of servers",
      "commit",
      A,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [C] }),
    ],
    [
      "R10.1",
      "a pending commit of the next epoch",
      "pending",
      C,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [B, C] }),
    ],
    [
      "R10.2",
      "a commit-framed pending commit",
      "pending",
      B,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [B, C] }),
    ],
    [
      "R10.3",
      "a pending commit that adds a server",
      "pending",
      C,
      () => federation({ servers: [A, B, C, "d.example"], powers: [A, B], canPropose: [B, C] }),
    ],
    [
      "R10.4",
      "a pending commit that keeps powers",
      "pending",
      C,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [C] }),
    ],
    [
      "R10.5",
      "a pending commit from a server in can_propose",
      "pending",
      B,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [B] }),
    ],
    [
      "R10.6",
      "a pending commit that removes a non-power server",
      "pending",
      B,
      () => federation({ servers: [A, B], powers: [A, B], canPropose: [B] }),
    ],
    [
      "R10.7",
      "a pending commit that narrows can_propose",
      "pending",
      C,
      () => federation({ servers: [A, B, C], powers: [A, B], canPropose: [] }),
    ],
  ];
  for (const [rule, what, kind, origin, fed] of cases) {
    it(`${rule} lets ${what} pass`, async () => {
      const { bytes } = await nextCommit(shared, fed());
      const event =
        kind === "commit" ? commitEvent(shared, origin, bytes) : pendingEvent(shared, origin, bytes);
      const outcome = check(shared, event);
      expect(outcome.ok ? "passed" : outcome.rejection).toBe("passed");
    });
  }
});
