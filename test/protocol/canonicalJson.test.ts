import { describe, it, expect } from "vitest";
import fc from "fast-check";
import {
  canonicalJson,
  canonicalJsonBytes,
  compareByCodePoint,
  CanonicalJsonError,
  MAX_CANONICAL_JSON_DEPTH,
} from "../../src/protocol/canonicalJson.js";

// The examples of the Matrix spec's appendix "Canonical JSON": input JSON text, expected output.
const SPEC_VECTORS: ReadonlyArray<{ readonly input: string; readonly expected: string }> = [
  { input: "{}", expected: "{}" },
  { input: '{\n    "one": 1,\n    "two": "Two"\n}', expected: '{"one":1,"two":"Two"}' },
  { input: '{\n    "b": "2",\n    "a": "1"\n}', expected: '{"a":"1","b":"2"}' },
  { input: '{"b":"2","a":"1"}', expected: '{"a":"1","b":"2"}' },
  {
    input: `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
    expected:
      '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
  },
  { input: '{\n    "a": "日本語"\n}', expected: '{"a":"日本語"}' },
  { input: '{\n    "本": 2,\n    "日": 1\n}', expected: '{"日":1,"本":2}' },
  { input: '{\n    "a": "\\u65E5"\n}', expected: '{"a":"日"}' },
  { input: '{\n    "a": null\n}', expected: '{"a":null}' },
  { input: '{\n    "a": -0,\n    "b": 1e10\n}', expected: '{"a":0,"b":10000000000}' },
];

describe("canonical JSON: Matrix spec appendix vectors", () => {
  it.each(SPEC_VECTORS)("vector $#: produces $expected", ({ input, expected }) => {
    expect(canonicalJson(JSON.parse(input))).toBe(expected);
  });
});

describe("canonical JSON: encoding details", () => {
  it("sorts keys by code point, putting U+FFFF before an astral character", () => {
    // UTF-16 code-unit order would put "😀" (D83D DE00) first.
    expect(canonicalJson({ "😀": 1, "\uffff": 2 })).toBe('{"\uffff":2,"😀":1}');
  });

  it("uses only the short escapes and lowercase \\u00XX for control characters", () => {
    const text = '\u0000\u0007\b\t\n\u000b\f\r\u000e\u001f"\\/\u007f\u2028';
    expect(canonicalJson(text)).toBe(
      '"\\u0000\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f\\"\\\\/\u007f\u2028"',
    );
  });

  it("writes non-ASCII as UTF-8 bytes, not escapes", () => {
    expect(Array.from(canonicalJsonBytes("é😀"))).toEqual([0x22, 0xc3, 0xa9, 0xf0, 0x9f, 0x98, 0x80, 0x22]);
  });

  it("writes the largest and smallest safe integers", () => {
    expect(canonicalJson([2 ** 53 - 1, -(2 ** 53) + 1])).toBe("[9007199254740991,-9007199254740991]");
  });

  it("accepts objects without a prototype", () => {
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: 2 });
    expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
  });

  it("keeps an own __proto__ key as data", () => {
    expect(canonicalJson(JSON.parse('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}');
  });
});

describe("canonical JSON: rejections", () => {
  const rejected: ReadonlyArray<readonly [string, unknown]> = [
    ["a float", 1.5],
    ["2^53", 2 ** 53],
    ["-(2^53)", -(2 ** 53)],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["undefined", undefined],
    ["an undefined property", { a: undefined }],
    ["an array hole", new Array(1)],
    ["a function", () => 1],
    ["a bigint", 1n],
    ["a symbol", Symbol("s")],
    ["a Uint8Array", new Uint8Array(1)],
    ["a Date", new Date(0)],
    ["a Map", new Map()],
    ["a class instance", new (class Thing {})()],
    ["a lone high surrogate", "a\ud800b"],
    ["a lone low surrogate", "\udc00"],
    ["a lone surrogate in a key", { "\ud83d": 1 }],
  ];

  it.each(rejected)("rejects %s", (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
  });

  it("rejects a cycle with a typed error, not a stack overflow", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(CanonicalJsonError);
  });

  it(`accepts ${MAX_CANONICAL_JSON_DEPTH} nested arrays and rejects one more`, () => {
    const nest = (levels: number): unknown => JSON.parse("[".repeat(levels) + "]".repeat(levels));
    expect(canonicalJson(nest(MAX_CANONICAL_JSON_DEPTH))).toHaveLength(2 * MAX_CANONICAL_JSON_DEPTH);
    expect(() => canonicalJson(nest(MAX_CANONICAL_JSON_DEPTH + 1))).toThrow(CanonicalJsonError);
  });
});

// JSON values canonical JSON can express: safe integers, and strings of any code points.
const { json: jsonArbitrary } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.string({ unit: "binary" }),
    fc.array(tie("json")),
    fc.dictionary(fc.string({ unit: "binary" }), tie("json")),
  ),
}));

/** Rebuilds every object with its keys in an order drawn from `random`. */
function shuffleKeys(value: unknown, random: () => number): unknown {
  if (Array.isArray(value)) return value.map((item) => shuffleKeys(item, random));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  const shuffled: Record<string, unknown> = {};
  for (const [key, item] of entries)
    Object.defineProperty(shuffled, key, { value: shuffleKeys(item, random), enumerable: true });
  return shuffled;
}

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const codePoints = (text: string): number[] => Array.from(text, (char) => char.codePointAt(0)!);

/** Reference model: sorts keys by comparing their code point sequences, JSON.stringify for leaves. */
function referenceCanonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(referenceCanonicalJson).join(",")}]`;
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  const entries = Object.entries(value).sort(([a], [b]) => (lessByCodePoints(a, b) ? -1 : 1));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${referenceCanonicalJson(item)}`).join(",")}}`;
}

function lessByCodePoints(a: string, b: string): boolean {
  const x = codePoints(a);
  const y = codePoints(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]!;
  return x.length < y.length;
}

describe("canonical JSON: properties", () => {
  it("output does not depend on key order", () => {
    fc.assert(
      fc.property(jsonArbitrary, fc.integer(), (value, seed) => {
        expect(canonicalJson(shuffleKeys(value, seededRandom(seed)))).toBe(canonicalJson(value));
      }),
    );
  });

  it("output parses back to an equal value", () => {
    fc.assert(
      fc.property(jsonArbitrary, (value) => {
        expect(JSON.parse(canonicalJson(value))).toEqual(value);
      }),
    );
  });

  it("output equals a reference encoder that sorts keys by code point sequence", () => {
    fc.assert(
      fc.property(jsonArbitrary, (value) => {
        expect(canonicalJson(value)).toBe(referenceCanonicalJson(value));
      }),
    );
  });

  it("compareByCodePoint agrees with comparing code point sequences", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
        expect(compareByCodePoint(a, b) < 0).toBe(lessByCodePoints(a, b));
      }),
    );
  });
});
