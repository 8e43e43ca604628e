// The one-pass canonical forms equal the definitions they stand for (section 3, D2), for any content.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalJsonBytes } from "../../src/protocol/canonicalJson.js";
import { canonicalForms } from "../../src/protocol/pdu/canonicalForms.js";
import { redactPdu } from "../../src/protocol/pdu/redact.js";

const eventArbitrary = fc.record(
  {
    room_id: fc.constant("!r:a.example"),
    type: fc.constantFrom("m.room.encrypted", "de.bwi.mls.commit", "m.room.create", "m.room.message"),
    state_key: fc.constant(""),
    origin: fc.constant("a.example"),
    origin_server_ts: fc.nat(),
    content: fc.dictionary(fc.string({ unit: "binary" }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
    prev_events: fc.array(fc.string(), { maxLength: 2 }),
    auth_events: fc.array(fc.string(), { maxLength: 2 }),
    hashes: fc.record({ sha256: fc.string() }),
    signatures: fc.dictionary(fc.string(), fc.dictionary(fc.string(), fc.string())),
    unsigned: fc.dictionary(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" })),
  },
  {
    requiredKeys: [
      "room_id",
      "type",
      "origin",
      "origin_server_ts",
      "content",
      "prev_events",
      "auth_events",
      "hashes",
      "signatures",
    ],
  },
);

function without(event: object, keys: string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...event };
  for (const key of keys) delete copy[key];
  return copy;
}

// fast-check's JSON values may hold -0 and floats; canonical JSON refuses floats, so keep integers.
const integral = (event: object) => {
  try {
    canonicalJsonBytes(event);
    return true;
  } catch {
    return false;
  }
};

describe("canonicalForms", () => {
  it("full is the canonical JSON of the whole event", () => {
    fc.assert(
      fc.property(eventArbitrary.filter(integral), (event) => {
        expect(canonicalForms(event).full).toEqual(canonicalJsonBytes(event));
      }),
    );
  });
  it("contentHashInput leaves out unsigned, signatures and hashes", () => {
    fc.assert(
      fc.property(eventArbitrary.filter(integral), (event) => {
        expect(canonicalForms(event).contentHashInput).toEqual(
          canonicalJsonBytes(without(event, ["unsigned", "signatures", "hashes"])),
        );
      }),
    );
  });
  it("signingInput is the D2-redacted event without signatures", () => {
    fc.assert(
      fc.property(eventArbitrary.filter(integral), (event) => {
        expect(canonicalForms(event).signingInput).toEqual(
          canonicalJsonBytes(without(redactPdu(event), ["signatures"])),
        );
      }),
    );
  });
});
