import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  decodeFederationObject,
  encodeFederationObject,
  FederationObjectError,
  type FederationObject,
  type RequiredVerification,
} from "../../src/protocol/federationObject.js";

// Hand-built CBOR, so tests control key order, duplicates and encodings byte by byte.
type Item = number[];
function head(majorType: number, argument: number): Item {
  if (argument < 24) return [(majorType << 5) | argument];
  if (argument < 256) return [(majorType << 5) | 24, argument];
  return [(majorType << 5) | 25, argument >> 8, argument & 0xff];
}
const utf8 = (s: string): number[] => Array.from(new TextEncoder().encode(s));
const text = (s: string): Item => [...head(3, utf8(s).length), ...utf8(s)];
const uint = (n: number): Item => head(0, n);
const array = (...items: Item[]): Item => [...head(4, items.length), ...items.flat()];
const map = (...pairs: Array<[Item, Item]>): Item => [...head(5, pairs.length), ...pairs.flat(2)];
const cbor = (item: Item): Uint8Array => Uint8Array.from(item);
const hexOf = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

const federationMap = (...extra: Array<[Item, Item]>): Item =>
  map(
    [text("powers"), array(text("a.org"))],
    [text("servers"), array(text("a.org"), text("b.org"))],
    [text("can_propose"), array(text("b.org"))],
    ...extra,
  );
const securityMap = (...extra: Array<[Item, Item]>): Item =>
  map([text("window"), uint(60)], [text("required_verification"), text("m.tofu")], ...extra);

const EXPECTED: FederationObject = {
  federation: { powers: ["a.org"], servers: ["a.org", "b.org"], canPropose: ["b.org"] },
  security: { window: 60, requiredVerification: "m.tofu" },
};

const rejects = (item: Item): void => {
  expect(() => decodeFederationObject(cbor(item))).toThrow(FederationObjectError);
};

const serverList = fc.uniqueArray(fc.string({ unit: "binary" }), { maxLength: 6 });
const federationObjects: fc.Arbitrary<FederationObject> = fc.record({
  federation: fc.record({ powers: serverList, servers: serverList, canPropose: serverList }),
  security: fc.record({
    window: fc.oneof(fc.nat({ max: 1_000_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
    requiredVerification: fc.constantFrom<RequiredVerification>("m.direct", "m.cross", "m.tofu", "m.none"),
  }),
});

/** The same object built with every key in reverse order. */
function reversedKeys(obj: FederationObject): FederationObject {
  const { powers, servers, canPropose } = obj.federation;
  const { window, requiredVerification } = obj.security;
  return {
    security: { requiredVerification, window },
    federation: { canPropose: [...canPropose], servers: [...servers], powers: [...powers] },
  };
}

/** Decoding must end in a value or a FederationObjectError, never any other exception. */
function decodesOrThrowsTyped(bytes: Uint8Array): void {
  try {
    decodeFederationObject(bytes);
  } catch (error) {
    expect(error).toBeInstanceOf(FederationObjectError);
  }
}

describe("federation object: D7 deterministic writer", () => {
  it("writes map keys in RFC 8949 bytewise order of their encodings (shorter text first)", () => {
    const encoded = encodeFederationObject({
      federation: { powers: ["a"], servers: ["a"], canPropose: [] },
      security: { window: 0, requiredVerification: "m.cross" },
    });
    expect(hexOf(encoded)).toBe(
      [
        "a2", // map(2)
        "68" + hexOf(cbor(utf8("security"))), // "security" (8 bytes) sorts before "federation" (10)
        "a2",
        "66" + hexOf(cbor(utf8("window"))),
        "00",
        "75" + hexOf(cbor(utf8("required_verification"))),
        "67" + hexOf(cbor(utf8("m.cross"))),
        "6a" + hexOf(cbor(utf8("federation"))),
        "a3",
        "66" + hexOf(cbor(utf8("powers"))),
        "816161",
        "67" + hexOf(cbor(utf8("servers"))),
        "816161",
        "6b" + hexOf(cbor(utf8("can_propose"))),
        "80", // can_propose written even when empty
      ].join(""),
    );
  });

  it("writes integers in preferred (shortest) form", () => {
    const encoded = encodeFederationObject({
      ...EXPECTED,
      security: { window: 604_800, requiredVerification: "m.cross" },
    });
    expect(hexOf(encoded)).toContain("66" + hexOf(cbor(utf8("window"))) + "1a00093a80");
  });

  it("writes a window of -0 as the integer 0", () => {
    const encoded = encodeFederationObject({
      ...EXPECTED,
      security: { window: -0, requiredVerification: "m.cross" },
    });
    expect(hexOf(encoded)).toContain("66" + hexOf(cbor(utf8("window"))) + "00");
  });

  it("round-trips any valid object", () => {
    fc.assert(
      fc.property(federationObjects, (obj) => {
        expect(decodeFederationObject(encodeFederationObject(obj))).toEqual(obj);
      }),
    );
  });

  it("encodes equal objects to identical bytes whatever their key order", () => {
    fc.assert(
      fc.property(federationObjects, (obj) => {
        expect(encodeFederationObject(reversedKeys(obj))).toEqual(encodeFederationObject(obj));
      }),
    );
  });

  it.each<[string, FederationObject]>([
    [
      "a duplicate power (D8)",
      { ...EXPECTED, federation: { ...EXPECTED.federation, powers: ["a.org", "a.org"] } },
    ],
    ["a negative window", { ...EXPECTED, security: { window: -1, requiredVerification: "m.cross" } }],
    ["a fractional window", { ...EXPECTED, security: { window: 1.5, requiredVerification: "m.cross" } }],
    [
      "an unknown required_verification",
      { ...EXPECTED, security: { window: 0, requiredVerification: "m.never" as RequiredVerification } },
    ],
    [
      "a server name with a lone surrogate",
      { ...EXPECTED, federation: { ...EXPECTED.federation, servers: ["\ud800"] } },
    ],
  ])("refuses to write %s", (_name, obj) => {
    expect(() => encodeFederationObject(obj)).toThrow(FederationObjectError);
  });
});

describe("federation object: D7 reader accepts", () => {
  it("a complete object", () => {
    expect(
      decodeFederationObject(
        cbor(map([text("federation"), federationMap()], [text("security"), securityMap()])),
      ),
    ).toEqual(EXPECTED);
  });

  it("keys in any order (not only the deterministic one)", () => {
    const item = map([text("security"), securityMap()], [text("federation"), federationMap()]);
    expect(decodeFederationObject(cbor(item))).toEqual(EXPECTED);
  });

  it("non-preferred integer and length encodings", () => {
    const longWindow = map(
      [text("window"), [0x19, 0x00, 60]],
      [[0x78, 0x15, ...utf8("required_verification")], text("m.tofu")],
    );
    expect(
      decodeFederationObject(
        cbor(map([text("federation"), federationMap()], [text("security"), longWindow])),
      ),
    ).toEqual(EXPECTED);
  });

  it("and ignores unknown keys at every level, whatever their values", () => {
    const odd: Item = array([0xc1, 0x00], [0xf9, 0x3c, 0x00], [0x41, 0x00], map([uint(1), [0xf6]]), [0xf7]);
    const item = map(
      [text("federation"), federationMap([text("x"), odd])],
      [text("security"), securityMap([text("y"), odd])],
      [text("z"), odd],
    );
    expect(decodeFederationObject(cbor(item))).toEqual(EXPECTED);
  });

  it("an absent can_propose as empty (D6)", () => {
    const federation = map([text("powers"), array(text("a.org"))], [text("servers"), array(text("a.org"))]);
    const decoded = decodeFederationObject(
      cbor(map([text("federation"), federation], [text("security"), securityMap()])),
    );
    expect(decoded.federation.canPropose).toEqual([]);
  });

  it("an absent security as window 0 and m.cross", () => {
    expect(decodeFederationObject(cbor(map([text("federation"), federationMap()]))).security).toEqual({
      window: 0,
      requiredVerification: "m.cross",
    });
  });

  it("an absent window as 0", () => {
    const security = map([text("required_verification"), text("m.none")]);
    const decoded = decodeFederationObject(
      cbor(map([text("federation"), federationMap()], [text("security"), security])),
    );
    expect(decoded.security).toEqual({ window: 0, requiredVerification: "m.none" });
  });

  it("an absent required_verification as m.cross", () => {
    const security = map([text("window"), uint(5)]);
    const decoded = decodeFederationObject(
      cbor(map([text("federation"), federationMap()], [text("security"), security])),
    );
    expect(decoded.security).toEqual({ window: 5, requiredVerification: "m.cross" });
  });

  it("a window above 7 days as given (clients clamp it)", () => {
    const security = map([text("window"), [0x1a, 0x00, 0x10, 0x00, 0x00]]);
    const decoded = decodeFederationObject(
      cbor(map([text("federation"), federationMap()], [text("security"), security])),
    );
    expect(decoded.security.window).toBe(0x100000);
  });

  it("absent powers and servers as empty, left for R9.5/R9.6/R10.3 to reject", () => {
    const decoded = decodeFederationObject(cbor(map([text("federation"), map()])));
    expect(decoded.federation).toEqual({ powers: [], servers: [], canPropose: [] });
  });

  it("an absent federation as empty lists, left for the auth rules to reject", () => {
    expect(decodeFederationObject(cbor(map())).federation).toEqual({
      powers: [],
      servers: [],
      canPropose: [],
    });
  });

  it("entries that are not valid server names (the auth rules check the grammar)", () => {
    const federation = map([text("powers"), array(text("not a server"))], [text("servers"), array(text(""))]);
    const decoded = decodeFederationObject(cbor(map([text("federation"), federation])));
    expect(decoded.federation).toEqual({ powers: ["not a server"], servers: [""], canPropose: [] });
  });
});

describe("federation object: D7 reader rejects", () => {
  it("a duplicate top-level key", () => {
    rejects(map([text("federation"), federationMap()], [text("federation"), federationMap()]));
  });

  it("a duplicate key inside federation", () => {
    rejects(map([text("federation"), federationMap([text("powers"), array(text("b.org"))])]));
  });

  it("a duplicate key spelled with a non-preferred length (cbor2 compares bytes only)", () => {
    const longPowers: Item = [0x78, 0x06, ...utf8("powers")];
    rejects(map([text("federation"), federationMap([longPowers, array(text("b.org"))])]));
  });

  it("a duplicate key in an unknown nested map", () => {
    rejects(
      map([text("federation"), federationMap()], [text("x"), map([uint(1), uint(1)], [uint(1), uint(2)])]),
    );
  });

  it("an indefinite-length top-level map", () => {
    rejects([0xbf, ...text("federation"), ...federationMap(), 0xff]);
  });

  it("an indefinite-length powers array", () => {
    rejects(map([text("federation"), map([text("powers"), [0x9f, ...text("a.org"), 0xff]])]));
  });

  it("an indefinite-length text string", () => {
    rejects(map([text("federation"), map([text("powers"), array([0x7f, ...text("a.org"), 0xff])])]));
  });

  it("an indefinite-length value under an unknown key", () => {
    rejects(map([text("federation"), federationMap()], [text("x"), [0x9f, 0xff]]));
  });

  it("trailing bytes", () => {
    rejects([...map([text("federation"), federationMap()]), 0x00]);
  });

  it("empty input", () => {
    rejects([]);
  });

  it("a truncated object", () => {
    rejects(map([text("federation"), federationMap()]).slice(0, -1));
  });

  it("invalid UTF-8 in a text string", () => {
    rejects(map([text("federation"), map([text("powers"), array([0x61, 0xff])])]));
  });

  it.each<[string, Item]>([
    ["a top-level array", array()],
    ["a tagged top-level map (self-described CBOR)", [0xd9, 0xd9, 0xf7, ...map()]],
    ["federation that is null", map([text("federation"), [0xf6]])],
    ["security that is an array", map([text("security"), array()])],
    ["powers that is text", map([text("federation"), map([text("powers"), text("a.org")])])],
    ["powers that is CBOR undefined", map([text("federation"), map([text("powers"), [0xf7]])])],
    ["a powers entry that is an integer", map([text("federation"), map([text("powers"), array(uint(1))])])],
    [
      "a servers entry that is a byte string",
      map([text("federation"), map([text("servers"), array([0x41, 0x61])])]),
    ],
    [
      "a tagged can_propose entry",
      map([text("federation"), map([text("can_propose"), array([0xc0, ...text("a")])])]),
    ],
    ["a non-text key at the top level", map([uint(1), uint(1)])],
    ["a non-text key inside federation", map([text("federation"), map([uint(1), array()])])],
    ["a non-text key inside security", map([text("security"), map([[0x41, 0x61], uint(1)])])],
    ["a negative window", map([text("security"), map([text("window"), [0x20]])])],
    [
      "a float window, even integral (5.0)",
      map([text("security"), map([text("window"), [0xf9, 0x45, 0x00]])]),
    ],
    ["a text window", map([text("security"), map([text("window"), text("60")])])],
    ["a bignum-tagged window", map([text("security"), map([text("window"), [0xc2, 0x41, 0x05]])])],
    [
      "a window of 2^53 (beyond what a reader can hold exactly)",
      map([text("security"), map([text("window"), [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0]])]),
    ],
    [
      "an unknown required_verification",
      map([text("security"), map([text("required_verification"), text("m.never")])]),
    ],
    [
      "a non-text required_verification",
      map([text("security"), map([text("required_verification"), uint(1)])]),
    ],
  ])("%s", (_name, item) => {
    rejects(item);
  });

  it.each(["powers", "servers", "can_propose"])("a %s list naming a server twice (D8)", (list) => {
    rejects(map([text("federation"), map([text(list), array(text("a.org"), text("b.org"), text("a.org"))])]));
  });
});

describe("federation object: the reader only ever throws FederationObjectError", () => {
  it("for arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesOrThrowsTyped));
  });

  it("for valid encodings with bytes changed", () => {
    fc.assert(
      fc.property(
        federationObjects,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (obj, changes) => {
          const bytes = encodeFederationObject(obj);
          for (const [position, value] of changes) bytes[position % bytes.length] = value;
          decodesOrThrowsTyped(bytes);
        },
      ),
    );
  });

  it("for valid encodings cut short", () => {
    fc.assert(
      fc.property(federationObjects, fc.nat(), (obj, cut) => {
        const bytes = encodeFederationObject(obj);
        decodesOrThrowsTyped(bytes.subarray(0, cut % bytes.length));
      }),
    );
  });
});
