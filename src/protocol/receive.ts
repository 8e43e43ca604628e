// D10: the checks every PDU passes before it is stored, in order: shape, the origin's signature,
// content hash, then the rules against the event's own auth events. (The last step, the rules
// against the state before the event, needs that state: callers use authorizeAgainstState.)
import type { AuthEvent } from "./auth/authEvent.js";
import type { Rejection } from "./auth/rejection.js";
import { authorizeEvent, type AuthEventLookup } from "./auth/rules.js";
import type { ProtocolCrypto } from "./crypto.js";
import { PduShapeError, validatePduShape } from "./pdu/shape.js";
import { checkPduIntegrity, type ServerKeyLookup } from "./pdu/signing.js";

export interface ReceiveContext {
  readonly crypto: ProtocolCrypto;
  readonly keys: ServerKeyLookup;
  readonly authEvents: AuthEventLookup;
}

export type ReceiveResult =
  | { readonly ok: true; readonly event: AuthEvent }
  | { readonly ok: false; readonly eventId?: string; readonly rejection: Rejection };

export function checkIncomingPdu(raw: unknown, context: ReceiveContext): ReceiveResult {
  let shaped;
  try {
    shaped = validatePduShape(raw);
  } catch (error) {
    if (!(error instanceof PduShapeError)) throw error;
    return { ok: false, rejection: { rule: "shape", kind: "malformed", message: error.message } };
  }
  const { pdu, forms } = shaped;
  const integrity = checkPduIntegrity(pdu, context.keys, context.crypto, forms);
  const { eventId } = integrity;
  if (integrity.failure !== undefined) {
    return {
      ok: false,
      eventId,
      rejection: { rule: integrity.failure, kind: "forbidden", message: integrity.detail ?? "" },
    };
  }
  const outcome = authorizeEvent(pdu, context.authEvents);
  if (!outcome.ok) return { ok: false, eventId, rejection: outcome.rejection };
  return { ok: true, event: { eventId, pdu, framing: outcome.framing, federation: outcome.federation } };
}
