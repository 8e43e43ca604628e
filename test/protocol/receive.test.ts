// D10: every PDU is checked in order (shape, the origin's signature, content hash, rules against its
// own auth events) before anything may store it.
import { beforeAll, describe, expect, it } from "vitest";
import { checkIncomingPdu, type ReceiveResult } from "../../src/protocol/receive.js";
import { signJson } from "../../src/protocol/signedJson.js";
import { applicationBytes } from "../helpers/mls.js";
import { crypto, keyLookup, roomFixture, serverSigner, signed, type RoomFixture } from "../helpers/room.js";
import type { Pdu } from "../../src/protocol/pdu/types.js";

let room: RoomFixture;
let message: Pdu;

beforeAll(async () => {
  room = await roomFixture();
  const content = room.mlsContent(await applicationBytes(room.group, "hello"));
  message = signed(room.event({ type: "m.room.encrypted", origin: "a.example", content })).pdu;
});

function receive(raw: unknown): ReceiveResult {
  return checkIncomingPdu(raw, { crypto, keys: keyLookup, authEvents: room.lookup });
}

function stage(result: ReceiveResult): string | undefined {
  return result.ok ? undefined : result.rejection.rule;
}

describe("checkIncomingPdu (D10)", () => {
  it("accepts a valid message and returns its event ID and framing", () => {
    const result = receive(JSON.parse(JSON.stringify(message)));
    expect(result.ok && result.event.framing?.epoch).toBe(1n);
  });
  it("refuses a PDU with a sender at the shape check", () => {
    expect(stage(receive({ ...message, sender: "@a:a.example" }))).toBe("shape");
  });
  it("refuses a PDU whose signature does not verify", () => {
    expect(stage(receive({ ...message, origin_server_ts: message.origin_server_ts + 1 }))).toBe("signature");
  });
  it("refuses a PDU whose content hash does not match under a valid signature", () => {
    const wrongHash = signJson(
      { ...message, hashes: { sha256: "B".repeat(43) }, signatures: {} },
      "a.example",
      serverSigner("a.example"),
    );
    expect(stage(receive(wrongHash))).toBe("content-hash");
  });
  it("checks the signature before the rules", () => {
    const foreign = { ...message, origin: "b.example" };
    expect(stage(receive(foreign))).toBe("signature");
  });
  it("refuses a well-signed PDU that breaks a rule, naming the rule", () => {
    const fromOutside = signed(
      room.event({ type: "m.room.encrypted", origin: "b.example", content: message.content }),
    ).pdu;
    expect(stage(receive(fromOutside))).toBe("R6");
  });
  it("returns the event ID of a refused but well-formed PDU, for logs", () => {
    const fromOutside = signed(
      room.event({ type: "m.room.encrypted", origin: "b.example", content: message.content }),
    );
    const result = receive(fromOutside.pdu);
    expect(result.ok ? undefined : result.eventId).toBe(fromOutside.eventId);
  });
});
