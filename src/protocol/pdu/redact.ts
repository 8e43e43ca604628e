// D2: the redaction algorithm of this room version, used only for hashing and signing.
import { CREATE_EVENT_TYPE, ENCRYPTED_EVENT_TYPE, STABLE_NAMES, UNSTABLE_NAMES } from "../names.js";
import { PDU_KEYS } from "./types.js";

const KEPT_KEYS = new Set(PDU_KEYS.filter((key) => key !== "unsigned"));

const CONTENT_KEPT_TYPES = new Set([
  CREATE_EVENT_TYPE,
  ENCRYPTED_EVENT_TYPE,
  ...[STABLE_NAMES, UNSTABLE_NAMES].flatMap((names) => [
    names.commitType,
    names.pendingType,
    names.proposedCommitAlias,
  ]),
]);

/** D2: whether redaction keeps the whole content of an event of this type. */
export function contentKeptOnRedaction(type: unknown): boolean {
  return typeof type === "string" && CONTENT_KEPT_TYPES.has(type);
}

/**
 * Keeps every top-level key of section 3 except `unsigned`, and the whole `content` of the
 * four allowed event types; any other type (rejected anyway, D4) keeps an empty content.
 */
export function redactPdu(event: object): Record<string, unknown> {
  const redacted: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (KEPT_KEYS.has(key)) redacted[key] = value;
  }
  if ("content" in redacted && !contentKeptOnRedaction(redacted.type)) redacted.content = {};
  return redacted;
}
