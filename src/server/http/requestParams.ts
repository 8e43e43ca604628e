// Path and query parameters are checked once, before any route: IDs reach SQL and JSON, so a NUL
// (PostgreSQL TEXT cannot hold it) or an unpaired surrogate (no UTF-8 form) is refused with
// M_INVALID_PARAM on every backend alike. Path parameters longer than the router's bound
// (MAX_PATH_PARAM_LENGTH) never reach here: Fastify answers 414 (http/app.ts gives it a Matrix body).
import { invalidParam } from "../errors.js";

/** The router's bound on one path parameter, before percent-decoding; longer ones get 414. */
export const MAX_PATH_PARAM_LENGTH = 1000;

// eslint-disable-next-line no-control-regex
const UNSTORABLE = /\u0000|\p{Surrogate}/u;

function check(where: string, name: string, value: unknown): void {
  // The name too: a query string names its parameters freely.
  const values = [name, ...(Array.isArray(value) ? (value as unknown[]) : [value])];
  for (const v of values) {
    if (typeof v !== "string" || !UNSTORABLE.test(v)) continue;
    const why = v.includes("\u0000") ? "a NUL character" : "an unpaired surrogate";
    throw invalidParam(`The ${where} parameter ${JSON.stringify(name)} contains ${why}`);
  }
}

/** Throws M_INVALID_PARAM when a path or query parameter cannot be stored. */
export function checkRequestParams(params: unknown, query: unknown): void {
  for (const [where, record] of [
    ["path", params],
    ["query", query],
  ] as const) {
    if (typeof record !== "object" || record === null) continue;
    for (const [name, value] of Object.entries(record)) {
      check(where, name, value);
    }
  }
}
