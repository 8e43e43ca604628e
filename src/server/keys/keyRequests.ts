// The bodies of key queries and claims, the same for local clients (/keys/query, /keys/claim)
// and other servers (/user/keys/query, /user/keys/claim): M_MISSING_PARAM or M_BAD_JSON when wrong.
import { badJson, missingParam } from "./keyErrors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { keyedRecord } from "../keyedRecord.js";

/** A required object field whose values are all `check`ed; M_BAD_JSON naming `what` otherwise. */
function mapOf<T>(
  body: JsonObject,
  field: string,
  check: (value: unknown) => value is T,
  what: string,
): Record<string, T> {
  const value = body[field];
  if (value === undefined || value === null) throw missingParam(field);
  if (!isJsonObject(value)) throw badJson(`${field} must map user IDs to ${what}`);
  const map: Record<string, T> = keyedRecord();
  for (const [userId, entry] of Object.entries(value)) {
    if (!check(entry)) throw badJson(`${field} must map user IDs to ${what}`);
    map[userId] = entry;
  }
  return map;
}

const isStringList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === "string");
const isAlgorithmMap = (value: unknown): value is Record<string, string> =>
  isJsonObject(value) && Object.values(value).every((v) => typeof v === "string");

/** `device_keys`: user ID → device IDs (empty: every device). */
export function queryRequest(body: JsonObject): Record<string, string[]> {
  return mapOf(body, "device_keys", isStringList, "lists of device IDs");
}

/** `one_time_keys`: user ID → device ID → algorithm. */
export function claimRequest(body: JsonObject): Record<string, Record<string, string>> {
  return mapOf(body, "one_time_keys", isAlgorithmMap, "maps of device ID to algorithm");
}
