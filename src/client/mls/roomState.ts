// Section 8 encrypted room state: the canonical JSON of {event_type: {state_key: content}} held in
// GroupContext extension 0xF6D0. Writers and readers apply the same checks, so a map that one
// member could commit is a map every member reads back unchanged.
import { CanonicalJsonError, canonicalJsonBytes } from "../../protocol/canonicalJson.js";
import {
  CREATE_EVENT_TYPE,
  ENCRYPTED_EVENT_TYPE,
  STABLE_NAMES,
  UNSTABLE_NAMES,
} from "../../protocol/names.js";
import { MlsEngineError } from "./mlsEngineError.js";
import { equalBytes } from "../../protocol/bytes.js";

export type RoomStateMap = Readonly<
  Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>
>;

/** Largest room state, as canonical JSON bytes: it travels in every Welcome and GroupContext. */
export const MAX_ROOM_STATE_BYTES = 32 * 1024;
const MAX_EVENT_TYPE_LENGTH = 255;
const MAX_STATE_KEY_LENGTH = 255;

// The four PDU types (section 3, D1 alias included, both name sets): they are never room state.
const PDU_TYPES: ReadonlySet<string> = new Set([
  CREATE_EVENT_TYPE,
  ENCRYPTED_EVENT_TYPE,
  ...[STABLE_NAMES, UNSTABLE_NAMES].flatMap((names) => [
    names.commitType,
    names.pendingType,
    names.proposedCommitAlias,
  ]),
]);

const CONTROL = /\p{Cc}/u;
const LONE_SURROGATE = /\p{Surrogate}/u;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Section 8: event type 1..255 characters (code points), state key 0..255, neither with control
 * characters (Unicode Cc) or lone surrogates; the event type is none of the PDU types; the
 * content is a JSON object canonical JSON can write.
 */
export function checkRoomStateEntry(eventType: string, stateKey: string, content: unknown): void {
  checkName(eventType, "event type", 1, MAX_EVENT_TYPE_LENGTH);
  if (PDU_TYPES.has(eventType))
    throw new MlsEngineError(`event type ${eventType} is a PDU type, not room state`);
  checkName(stateKey, "state key", 0, MAX_STATE_KEY_LENGTH);
  if (!isPlainObject(content)) throw new MlsEngineError(`content of ${eventType} is not a JSON object`);
  canonical(content, `content of ${eventType}`);
}

/** The extension data of a map: every entry checked, at most MAX_ROOM_STATE_BYTES. */
export function encodeRoomState(map: RoomStateMap): Uint8Array {
  if (!isPlainObject(map)) throw new MlsEngineError("room state is not a JSON object");
  for (const [eventType, byKey] of Object.entries(map)) {
    if (!isPlainObject(byKey)) throw new MlsEngineError(`room state of ${eventType} is not a JSON object`);
    for (const [stateKey, content] of Object.entries(byKey))
      checkRoomStateEntry(eventType, stateKey, content);
  }
  const bytes = canonical(map, "room state");
  if (bytes.length > MAX_ROOM_STATE_BYTES) {
    throw new MlsEngineError(`room state is ${bytes.length} bytes, more than ${MAX_ROOM_STATE_BYTES}`);
  }
  return bytes;
}

/** Reads extension data strictly: UTF-8 JSON passing encodeRoomState's checks, in canonical form. */
export function decodeRoomState(bytes: Uint8Array): RoomStateMap {
  let parsed: unknown;
  try {
    parsed = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    throw new MlsEngineError("room state is not UTF-8 JSON");
  }
  const canonicalBytes = encodeRoomState(parsed as RoomStateMap);
  // One map, one encoding: otherwise members could disagree on what the state bytes mean.
  if (!equalBytes(canonicalBytes, bytes)) throw new MlsEngineError("room state is not canonical JSON");
  return parsed as RoomStateMap;
}

function checkName(name: string, what: string, min: number, max: number): void {
  if (typeof name !== "string") throw new MlsEngineError(`${what} is not a string`);
  if (LONE_SURROGATE.test(name)) throw new MlsEngineError(`${what} has a lone surrogate`);
  const length = [...name].length;
  if (length < min || length > max) {
    throw new MlsEngineError(`${what} has ${length} characters, not ${min} to ${max}`);
  }
  if (CONTROL.test(name)) throw new MlsEngineError(`${what} ${JSON.stringify(name)} has a control character`);
}

function canonical(value: unknown, what: string): Uint8Array {
  try {
    return canonicalJsonBytes(value);
  } catch (error) {
    if (error instanceof CanonicalJsonError) throw new MlsEngineError(`${what}: ${error.message}`);
    throw error;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
