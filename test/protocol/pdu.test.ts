// Section 3: PDU shape, the D2 redaction, content hash, reference hash, event ID and signatures.
import { beforeAll, describe, expect, it } from "vitest";
import { decodeBase64Unpadded } from "../../src/protocol/base64.js";
import { computeContentHash, computeEventId } from "../../src/protocol/pdu/hashes.js";
import { redactPdu } from "../../src/protocol/pdu/redact.js";
import { PduShapeError, validatePduShape } from "../../src/protocol/pdu/shape.js";
import { checkPduIntegrity, signPdu } from "../../src/protocol/pdu/signing.js";
import type { Pdu } from "../../src/protocol/pdu/types.js";
import { signJson } from "../../src/protocol/signedJson.js";
import { nobleCrypto, nobleSigner } from "../../src/protocol/nobleCrypto.js";
import { nodeCrypto, nodeSigner } from "../../src/platform/nodeCrypto.js";
import { applicationBytes } from "../helpers/mls.js";
import { keyLookup, roomFixture, serverSigner, signed, type RoomFixture } from "../helpers/room.js";

const crypto = nobleCrypto;
let room: RoomFixture;
let message: Pdu;

beforeAll(async () => {
  room = await roomFixture();
  const bytes = await applicationBytes(room.group, "hello");
  message = signed(
    room.event({ type: "m.room.encrypted", origin: "a.example", content: room.mlsContent(bytes) }),
  ).pdu;
});

describe("Matrix specification vectors (appendix, signing events)", () => {
  const minimal = {
    room_id: "!x:domain",
    sender: "@a:domain",
    origin: "domain",
    origin_server_ts: 1000000,
    signatures: {},
    hashes: {},
    type: "X",
    content: {},
    prev_events: [],
    auth_events: [],
    depth: 3,
    unsigned: { age_ts: 1000000 },
  };
  const seed = decodeBase64Unpadded("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");

  it("computes the spec's content hash of the minimal event", () => {
    expect(computeContentHash(minimal, crypto)).toBe("5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
  });
  it("computes the spec's content hash of the message event", () => {
    const event = {
      content: { body: "Here is the message content" },
      event_id: "$0:domain",
      origin: "domain",
      origin_server_ts: 1000000,
      type: "m.room.message",
      room_id: "!r:domain",
      sender: "@u:domain",
      signatures: {},
      unsigned: { age_ts: 1000000 },
    };
    expect(computeContentHash(event, crypto)).toBe("onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g");
  });
  it("reproduces the spec's signature of the minimal event once hashed", () => {
    const hashed = { ...minimal, hashes: { sha256: computeContentHash(minimal, crypto) } };
    const result = signJson(hashed, "domain", nobleSigner("ed25519:1", seed));
    expect(result.signatures.domain?.["ed25519:1"]).toBe(
      "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg",
    );
  });
});

describe("D2 redaction of this room version", () => {
  it("D2 drops unsigned and keeps every other key of section 3", () => {
    const redacted = redactPdu({ ...message, unsigned: { age: 5 } });
    expect(Object.keys(redacted).sort()).toEqual(
      Object.keys(message)
        .filter((k) => k !== "unsigned")
        .sort(),
    );
  });
  it("D2 keeps the whole content of the four allowed event types", () => {
    expect(redactPdu(message).content).toEqual(message.content);
  });
  it("D2 empties the content of any other event type", () => {
    expect(redactPdu({ ...message, type: "m.room.message", content: { body: "x" } }).content).toEqual({});
  });
  it("D2 drops top-level keys that section 3 does not list", () => {
    expect(redactPdu({ ...message, depth: 3 })).not.toHaveProperty("depth");
  });
});

describe("event ID (reference hash)", () => {
  it("is $ followed by 43 characters of unpadded URL-safe base64", () => {
    expect(computeEventId(message, crypto)).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
  });
  it("does not depend on unsigned", () => {
    expect(computeEventId({ ...message, unsigned: { age: 1 } }, crypto)).toBe(
      computeEventId(message, crypto),
    );
  });
  it("does not depend on signatures", () => {
    expect(computeEventId({ ...message, signatures: {} }, crypto)).toBe(computeEventId(message, crypto));
  });
  it("changes when the content changes", () => {
    const other = { ...message, content: { ...message.content, algorithm: "other" } };
    expect(computeEventId(other, crypto)).not.toBe(computeEventId(message, crypto));
  });
  it("is what signPdu returns", () => {
    const { pdu, eventId } = signed(
      room.event({ type: "m.room.encrypted", origin: "a.example", content: message.content }),
    );
    expect(eventId).toBe(computeEventId(pdu, crypto));
  });
});

describe("signature and content hash checks", () => {
  it("accept a PDU signed by its origin", () => {
    expect(checkPduIntegrity(message, keyLookup, crypto).failure).toBeUndefined();
  });
  it("reject a PDU whose signature was made by another server's key", () => {
    const event = room.event({ type: "m.room.encrypted", origin: "a.example", content: message.content });
    const forged = signPdu(event, { ...serverSigner("evil.example"), keyId: "ed25519:test" }, crypto);
    expect(checkPduIntegrity(forged.pdu, keyLookup, crypto).failure).toBe("signature");
  });
  it("reject a PDU signed with a key the caller does not know", () => {
    expect(checkPduIntegrity(message, () => undefined, crypto).failure).toBe("signature");
  });
  it("reject a PDU without a signature of its origin", () => {
    expect(checkPduIntegrity({ ...message, signatures: {} }, keyLookup, crypto).failure).toBe("signature");
  });
  it("reject a PDU whose signature is not base64", () => {
    const pdu = { ...message, signatures: { "a.example": { "ed25519:test": "!!!" } } };
    expect(checkPduIntegrity(pdu, keyLookup, crypto).failure).toBe("signature");
  });
  it("reject a changed signed field as a bad signature", () => {
    expect(checkPduIntegrity({ ...message, origin_server_ts: 1 }, keyLookup, crypto).failure).toBe(
      "signature",
    );
  });
  it("reject a wrong content hash under a valid signature as tampering (D2)", () => {
    const wrongHash = { ...message, hashes: { sha256: "A".repeat(43) }, signatures: {} };
    const resigned = signJson(wrongHash, "a.example", serverSigner("a.example"));
    expect(checkPduIntegrity(resigned, keyLookup, crypto).failure).toBe("content-hash");
  });
  it("agree between Node's native Ed25519 and the portable one", () => {
    const seed = crypto.sha256(new TextEncoder().encode("agree"));
    const native = nodeSigner("ed25519:n", seed);
    const data = new TextEncoder().encode("data");
    expect(nobleCrypto.ed25519Verify(native.publicKey, data, native.sign(data))).toBe(true);
  });
  it("verify with Node's native Ed25519 what the portable signer signed", () => {
    expect(checkPduIntegrity(message, keyLookup, nodeCrypto()).failure).toBeUndefined();
  });
});

describe("PDU shape (section 3)", () => {
  const shapeError = (value: unknown): string | undefined => {
    try {
      validatePduShape(value);
      return undefined;
    } catch (error) {
      if (error instanceof PduShapeError) return error.message;
      throw error;
    }
  };
  it("accepts a well-formed PDU", () => {
    expect(shapeError(message)).toBeUndefined();
  });
  it("rejects a PDU with a sender", () => {
    expect(shapeError({ ...message, sender: "@a:a.example" })).toMatch(/sender/);
  });
  it("rejects a PDU with a depth", () => {
    expect(shapeError({ ...message, depth: 1 })).toMatch(/depth/);
  });
  it("rejects an unknown top-level key", () => {
    expect(shapeError({ ...message, extra: 1 })).toMatch(/extra/);
  });
  it("rejects a non-create event without prev_events", () => {
    expect(shapeError({ ...message, prev_events: [] })).toMatch(/prev_events/);
  });
  it("rejects more than 20 prev_events", () => {
    expect(shapeError({ ...message, prev_events: Array(21).fill(room.create.eventId) })).toMatch(
      /prev_events/,
    );
  });
  it("rejects an event ID of the wrong form", () => {
    expect(shapeError({ ...message, auth_events: ["$abc:server"] })).toMatch(/auth_events/);
  });
  it("rejects a room ID without a valid server", () => {
    expect(shapeError({ ...message, room_id: "!room" })).toMatch(/room_id/);
  });
  it("rejects an origin that is not a server name", () => {
    expect(shapeError({ ...message, origin: "not a server" })).toMatch(/origin/);
  });
  it("rejects a fractional origin_server_ts", () => {
    expect(shapeError({ ...message, origin_server_ts: 1.5 })).toMatch(/origin_server_ts/);
  });
  it("rejects content that is not an object", () => {
    expect(shapeError({ ...message, content: [] })).toMatch(/content/);
  });
  it("rejects a PDU over 65,536 bytes of canonical JSON", () => {
    expect(shapeError({ ...message, content: { ...message.content, padding: "x".repeat(65_536) } })).toMatch(
      /65536/,
    );
  });
});
