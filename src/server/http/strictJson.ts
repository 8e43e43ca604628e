// The one reader of JSON request bodies (client and federation APIs alike; also inline sync
// filters). It refuses, before any route sees them, what no route can store or sign safely:
// invalid UTF-8 (M_NOT_JSON instead of U+FFFD), nesting deeper than canonical JSON allows, the
// keys `__proto__`, `constructor` and `prototype` anywhere (request data is used as object keys:
// user, device and key IDs; issue 9), unpaired surrogates (no UTF-8 form) and NUL characters
// (PostgreSQL TEXT cannot hold them; refused on every backend alike). Numbers are left to the
// routes: floats are fine in filters or to-device contents, but not in event contents, which
// must be canonical JSON (api/rooms.ts).
import { MAX_CANONICAL_JSON_DEPTH } from "../../protocol/canonicalJson.js";
import { badJson, notJson } from "../errors.js";

/** Deepest nesting of objects and arrays accepted in a body: what canonical JSON can sign. */
export const MAX_BODY_DEPTH = MAX_CANONICAL_JSON_DEPTH;

/** Keys that reach Object.prototype (or its constructor) when used to index a plain object. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

// With the u flag a well-formed surrogate pair is one code point, so only unpaired ones match.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|\p{Surrogate}/u;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The JSON value of a request body's bytes (undefined for an empty body); MatrixError if refused. */
export function parseRequestBody(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw notJson("Request body is not valid UTF-8");
  }
  if (text.trim() === "") return undefined;
  return parseRequestJson(text);
}

/** The JSON value of `text`, refused as parseRequestBody says (M_NOT_JSON when not JSON at all). */
export function parseRequestJson(text: string): unknown {
  // Checked on the text first: the reviver below recurses once per level.
  if (nestedDeeperThan(text, MAX_BODY_DEPTH))
    throw badJson(`JSON is nested deeper than ${MAX_BODY_DEPTH} levels`);
  try {
    return JSON.parse(text, checkMember) as unknown;
  } catch (error) {
    if (error instanceof SyntaxError) throw notJson();
    throw error;
  }
}

function checkMember(this: unknown, key: string, value: unknown): unknown {
  if (!Array.isArray(this)) {
    if (FORBIDDEN_KEYS.has(key)) throw badJson(`The key ${JSON.stringify(key)} is not allowed`);
    if (UNSTORABLE.test(key)) throw badJson(`The key ${describe(key)} ${unstorableReason(key)}`);
  }
  if (typeof value === "string" && UNSTORABLE.test(value)) {
    throw badJson(`The value of ${describe(key)} ${unstorableReason(value)}`);
  }
  return value;
}

function unstorableReason(text: string): string {
  return text.includes("\u0000")
    ? "contains a NUL character (\\u0000)"
    : "contains an unpaired surrogate (not Unicode text)";
}

/** A key for messages: JSON-quoted (NULs and lone surrogates escaped), long keys cut. */
function describe(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}…` : key);
}

/** Whether JSON text nests objects and arrays deeper than `max` (brackets in strings ignored). */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
