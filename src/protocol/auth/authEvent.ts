// An event that passed the checks on receipt, with what the rules read from it parsed once.
import { decodeBase64Lenient, Base64Error } from "../base64.js";
import { decodeFederationObject, FederationObjectError, type FederationObject } from "../federationObject.js";
import { readMlsFraming, MlsFramingError, MLS_CONTENT_TYPE, type MlsFraming } from "../mlsFraming.js";
import type { Pdu } from "../pdu/types.js";
import type { Rejection } from "./rejection.js";

export interface AuthEvent {
  readonly eventId: string;
  readonly pdu: Pdu;
  /** Present on every event but the create event. */
  readonly framing?: MlsFraming;
  /** Present on commit and pending events. */
  readonly federation?: FederationObject;
}

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly rejection: Rejection };

/** D5 then D21: the `ciphertext` must be base64 of one well-formed `mls_private_message`. */
export function parseCiphertext(content: Readonly<Record<string, unknown>>): Parsed<MlsFraming> {
  const ciphertext = content.ciphertext;
  if (typeof ciphertext !== "string") {
    return {
      ok: false,
      rejection: { rule: "D21", kind: "malformed", message: "content.ciphertext must be a string" },
    };
  }
  try {
    return { ok: true, value: readMlsFraming(decodeBase64Lenient(ciphertext)) };
  } catch (error) {
    if (error instanceof Base64Error || error instanceof MlsFramingError) {
      return {
        ok: false,
        rejection: { rule: "D21", kind: "malformed", message: `ciphertext: ${(error as Error).message}` },
      };
    }
    throw error;
  }
}

/** D7: the federation object in a commit's authenticated data. */
export function parseFederation(framing: MlsFraming): Parsed<FederationObject> {
  try {
    return { ok: true, value: decodeFederationObject(framing.authenticatedData) };
  } catch (error) {
    if (error instanceof FederationObjectError) {
      return {
        ok: false,
        rejection: { rule: "D7", kind: "malformed", message: `federation object: ${error.message}` },
      };
    }
    throw error;
  }
}

/**
 * Builds the AuthEvent of an event that has passed the checks, parsing its framing (and, for
 * commit-framed messages, its federation object) so later rule checks need not parse again.
 */
export function toAuthEvent(eventId: string, pdu: Pdu): AuthEvent {
  if (!("ciphertext" in pdu.content)) return { eventId, pdu };
  const framing = parseCiphertext(pdu.content);
  if (!framing.ok) return { eventId, pdu };
  if (framing.value.contentType !== MLS_CONTENT_TYPE.commit) return { eventId, pdu, framing: framing.value };
  const federation = parseFederation(framing.value);
  return federation.ok
    ? { eventId, pdu, framing: framing.value, federation: federation.value }
    : { eventId, pdu, framing: framing.value };
}
