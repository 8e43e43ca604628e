// Shape validation of incoming PDUs (section 3): types, limits, no `sender`, no `depth`.
// Values that the authorization rules judge (state_key values, content fields) are left to them
// so that a rejection names the rule.
import { CanonicalJsonError } from "../canonicalJson.js";
import { isEventId, isRoomId } from "../identifiers.js";
import { CREATE_EVENT_TYPE } from "../names.js";
import { isValidServerName } from "../serverName.js";
import { canonicalForms, type PduCanonicalForms } from "./canonicalForms.js";
import { MAX_AUTH_EVENTS, MAX_PDU_BYTES, MAX_PREV_EVENTS, PDU_KEYS, type Pdu } from "./types.js";

export class PduShapeError extends Error {
  override readonly name = "PduShapeError";
}

const ALLOWED_KEYS = new Set(PDU_KEYS);
const MAX_TYPE_LENGTH = 255;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function fail(message: string): never {
  throw new PduShapeError(message);
}

function checkEventIdList(value: unknown, field: string, max: number): void {
  if (!Array.isArray(value)) fail(`${field} must be an array of event IDs`);
  if (value.length > max) fail(`${field} has ${value.length} entries; at most ${max} are allowed`);
  for (const id of value)
    if (!isEventId(id)) fail(`${field} holds ${JSON.stringify(id)}, which is not an event ID`);
}

export interface ShapedPdu {
  readonly pdu: Pdu;
  /** Its canonical forms, computed once here and reused for the hash and signature checks. */
  readonly forms: PduCanonicalForms;
}

/** Returns the value typed as a PDU with its canonical forms, or throws PduShapeError saying what is wrong. */
export function validatePduShape(value: unknown): ShapedPdu {
  if (!isPlainObject(value)) fail("a PDU must be a JSON object");
  if ("sender" in value) fail("PDUs of MLS rooms have no sender (section 3)");
  if ("depth" in value) fail("PDUs of MLS rooms have no depth (section 3)");
  for (const key of Object.keys(value)) if (!ALLOWED_KEYS.has(key)) fail(`unexpected top-level key ${key}`);

  if (!isRoomId(value.room_id)) fail("room_id must be a room ID of the form !opaque:server");
  if (typeof value.type !== "string" || value.type.length === 0 || value.type.length > MAX_TYPE_LENGTH) {
    fail("type must be a non-empty string of at most 255 characters");
  }
  if ("state_key" in value && typeof value.state_key !== "string") fail("state_key must be a string");
  if (typeof value.origin !== "string" || !isValidServerName(value.origin))
    fail("origin must be a server name");
  const ts = value.origin_server_ts;
  if (typeof ts !== "number" || !Number.isSafeInteger(ts) || ts < 0) {
    fail("origin_server_ts must be a non-negative integer");
  }
  if (!isPlainObject(value.content)) fail("content must be an object");
  checkEventIdList(value.prev_events, "prev_events", MAX_PREV_EVENTS);
  // The create event's prev_events are judged by R3; every other event needs at least one.
  if (value.type !== CREATE_EVENT_TYPE && (value.prev_events as unknown[]).length === 0) {
    fail("prev_events must name 1 to 20 events");
  }
  checkEventIdList(value.auth_events, "auth_events", MAX_AUTH_EVENTS);
  const hashes = value.hashes;
  if (!isPlainObject(hashes) || typeof hashes.sha256 !== "string") fail("hashes.sha256 must be a string");
  const signatures = value.signatures;
  if (!isPlainObject(signatures)) fail("signatures must be an object");
  for (const bySigner of Object.values(signatures)) {
    if (!isPlainObject(bySigner) || !Object.values(bySigner).every((s) => typeof s === "string")) {
      fail("signatures must map server names to objects of key ID to signature");
    }
  }
  if ("unsigned" in value && !isPlainObject(value.unsigned)) fail("unsigned must be an object");

  let forms: PduCanonicalForms;
  try {
    forms = canonicalForms(value);
  } catch (error) {
    if (error instanceof CanonicalJsonError) fail(`not representable as canonical JSON: ${error.message}`);
    throw error;
  }
  const size = forms.full.length;
  if (size > MAX_PDU_BYTES) fail(`PDU is ${size} bytes of canonical JSON; the limit is ${MAX_PDU_BYTES}`);
  return { pdu: value as unknown as Pdu, forms };
}
