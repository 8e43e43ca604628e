// The three canonical JSON forms a PDU check needs, built from one serialization of each
// top-level field: the whole PDU (size limit), the content-hash input and the signed/reference-hash
// input. Serializing the event three times would cost more than a signature verification.
import { canonicalJson } from "../canonicalJson.js";
import { contentKeptOnRedaction } from "./redact.js";
import { PDU_KEYS } from "./types.js";

export interface PduCanonicalForms {
  /** The whole PDU: what the 64 KiB limit measures. */
  readonly full: Uint8Array;
  /** Without `unsigned`, `signatures` and `hashes`: what the content hash covers. */
  readonly contentHashInput: Uint8Array;
  /** D2-redacted, without `signatures`: what the origin signs and the reference hash covers. */
  readonly signingInput: Uint8Array;
}

const utf8 = new TextEncoder();
// PDU_KEYS are ASCII, so code-point order is plain string order.
const SORTED_KEYS = [...PDU_KEYS].sort();
const NOT_HASHED = new Set(["unsigned", "signatures", "hashes"]);
const NOT_SIGNED = new Set(["unsigned", "signatures"]);

type Three<T> = readonly [T, T, T];

/** UTF-8 of each text as views into one buffer of `size` bytes, or undefined if they do not fit. */
function encodeInto(texts: Three<string>, size: number): Three<Uint8Array> | undefined {
  const buffer = new Uint8Array(size);
  let offset = 0;
  const views: Uint8Array[] = [];
  for (const text of texts) {
    const { read, written } = utf8.encodeInto(text, buffer.subarray(offset));
    if (read !== text.length) return undefined;
    views.push(buffer.subarray(offset, offset + written));
    offset += written;
  }
  return views as unknown as Three<Uint8Array>;
}

/**
 * Sized for ASCII first (the usual case: one small allocation), else at three bytes per UTF-16
 * code unit, the most UTF-8 ever needs.
 */
function encodeAll(texts: Three<string>): Three<Uint8Array> {
  const units = texts[0].length + texts[1].length + texts[2].length;
  return encodeInto(texts, units) ?? (encodeInto(texts, 3 * units) as Three<Uint8Array>);
}

/**
 * Forms of an event whose top-level keys are all PDU keys (the shape check ensures it); any other
 * top-level key would make these forms wrong, so callers check the shape first. Each member is
 * serialized once, and the three texts are encoded into one buffer (allocations and encoder calls
 * cost more than the encoding itself).
 */
export function canonicalForms(event: Readonly<Record<string, unknown>>): PduCanonicalForms {
  let full = "";
  let hashed = "";
  let signedForm = "";
  for (const key of SORTED_KEYS) {
    if (!(key in event)) continue;
    const member = JSON.stringify(key) + ":" + canonicalJson(event[key]);
    full += (full ? "," : "") + member;
    if (!NOT_HASHED.has(key)) hashed += (hashed ? "," : "") + member;
    if (!NOT_SIGNED.has(key)) {
      const signedMember = key === "content" && !contentKeptOnRedaction(event.type) ? '"content":{}' : member;
      signedForm += (signedForm ? "," : "") + signedMember;
    }
  }
  const texts: Three<string> = ["{" + full + "}", "{" + hashed + "}", "{" + signedForm + "}"];
  const [fullBytes, hashedBytes, signedBytes] = encodeAll(texts);
  return { full: fullBytes, contentHashInput: hashedBytes, signingInput: signedBytes };
}
