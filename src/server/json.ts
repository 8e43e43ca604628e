// JSON values and readers for their fields, shared by the HTTP edge and the services (which know
// nothing of HTTP): a wrong or missing field is M_BAD_JSON / M_MISSING_PARAM, raised before
// anything changes.
import { badJson, invalidParam, missingParam } from "./errors.js";

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function bodyObject(body: unknown): JsonObject {
  if (body === undefined || body === null) return {};
  if (!isJsonObject(body)) throw badJson("Request body must be a JSON object");
  return body;
}

export function requiredString(body: JsonObject, field: string): string {
  const value = body[field];
  if (value === undefined || value === null) throw missingParam(field);
  if (typeof value !== "string") throw badJson(`${field} must be a string`);
  return value;
}

export function optionalString(body: JsonObject, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badJson(`${field} must be a string`);
  return value;
}

export function optionalObject(body: JsonObject, field: string): JsonObject | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) throw badJson(`${field} must be an object`);
  return value;
}

export function optionalBoolean(body: JsonObject, field: string): boolean | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw badJson(`${field} must be a boolean`);
  return value;
}

export function optionalStringList(body: JsonObject, field: string): string[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw badJson(`${field} must be a list of strings`);
  }
  return value as string[];
}

/** A path parameter the router matched (a string; "" when the route has no such segment). */
export function pathParam(params: unknown, name: string): string {
  const value = isJsonObject(params) ? params[name] : undefined;
  return typeof value === "string" ? value : "";
}

/** A query parameter given at most once; M_INVALID_PARAM when repeated. */
export function queryParam(query: unknown, name: string): string | undefined {
  const value = isJsonObject(query) ? query[name] : undefined;
  if (value === undefined || typeof value === "string") return value;
  throw invalidParam(`${name} must be given once`);
}

/** A query parameter that may repeat, as a list. */
export function queryParams(query: unknown, name: string): string[] {
  const value = isJsonObject(query) ? query[name] : undefined;
  const values: unknown[] = Array.isArray(value) ? value : [value];
  return values.filter((v): v is string => typeof v === "string");
}

/** The strings of a list field, ignoring other items (lenient, for peers' optional hints). */
export function stringsIn(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}
