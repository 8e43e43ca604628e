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

/**
 * Forms of an event whose top-level keys are all PDU keys (the shape check ensures it); any other
 * top-level key would make these forms wrong, so callers check the shape first.
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
  return {
    full: utf8.encode("{" + full + "}"),
    contentHashInput: utf8.encode("{" + hashed + "}"),
    signingInput: utf8.encode("{" + signedForm + "}"),
  };
}
