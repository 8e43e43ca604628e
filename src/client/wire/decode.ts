// Reading what a homeserver answers: every reply is decoded into the shape the SDK relies on, or
// refused with an error that names the first field that is not what it should be. Maps keyed by
// IDs the server chose (room IDs, user IDs) become Map objects: such keys never index an object.

/** A homeserver reply that is not what the endpoint returns; `field` is a path like `rooms.join["!a:x"].timeline`. */
export class UnexpectedReplyError extends Error {
  override readonly name = "UnexpectedReplyError";
  constructor(
    readonly field: string,
    readonly expected: string,
    /** `METHOD /path` of the request, once known. */
    readonly endpoint?: string,
  ) {
    super(`${endpoint ? `${endpoint}: ` : ""}unexpected reply: ${field || "the body"} is not ${expected}`);
  }
}

/** Turns the JSON body of a successful reply into T, or throws UnexpectedReplyError. */
export type Decoder<T> = (value: unknown, field: string) => T;

export type JsonObject = Readonly<Record<string, unknown>>;

export const fieldPath = (parent: string, name: string): string =>
  /^[A-Za-z_][A-Za-z0-9_]*$/.test(name)
    ? parent
      ? `${parent}.${name}`
      : name
    : `${parent}[${JSON.stringify(name)}]`;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export const object: Decoder<JsonObject> = (value, field) => {
  if (!isJsonObject(value)) throw new UnexpectedReplyError(field, "an object");
  return value;
};

export const string: Decoder<string> = (value, field) => {
  if (typeof value !== "string") throw new UnexpectedReplyError(field, "a string");
  return value;
};

export const number: Decoder<number> = (value, field) => {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new UnexpectedReplyError(field, "a number");
  return value;
};

export const boolean: Decoder<boolean> = (value, field) => {
  if (typeof value !== "boolean") throw new UnexpectedReplyError(field, "a boolean");
  return value;
};

/** Anything: checked later by code that knows more (signatures, MLS). */
export const unknownValue: Decoder<unknown> = (value) => value;

export function arrayOf<T>(item: Decoder<T>): Decoder<readonly T[]> {
  return (value, field) => {
    if (!Array.isArray(value)) throw new UnexpectedReplyError(field, "an array");
    return value.map((entry, index) => item(entry, `${field}[${index}]`));
  };
}

/** A JSON object used as a map (keys chosen by the server) decoded into a Map. */
export function mapOf<T>(item: Decoder<T>): Decoder<ReadonlyMap<string, T>> {
  return (value, field) => {
    const map = new Map<string, T>();
    for (const [key, entry] of Object.entries(object(value, field)))
      map.set(key, item(entry, fieldPath(field, key)));
    return map;
  };
}

/** `obj[name]` decoded; absent (or null) gives undefined. */
export function optionalField<T>(
  obj: JsonObject,
  name: string,
  item: Decoder<T>,
  parent: string,
): T | undefined {
  const value = Object.hasOwn(obj, name) ? obj[name] : undefined;
  return value === undefined || value === null ? undefined : item(value, fieldPath(parent, name));
}

export function requiredField<T>(obj: JsonObject, name: string, item: Decoder<T>, parent: string): T {
  const field = fieldPath(parent, name);
  if (!Object.hasOwn(obj, name) || obj[name] === undefined) throw new UnexpectedReplyError(field, "present");
  return item(obj[name], field);
}

/** Runs a decoder on a whole body, naming the endpoint in the error. */
export function decodeReply<T>(decode: Decoder<T>, body: unknown, endpoint: string): T {
  try {
    return decode(body, "");
  } catch (error) {
    if (error instanceof UnexpectedReplyError && error.endpoint === undefined) {
      throw new UnexpectedReplyError(error.field, error.expected, endpoint);
    }
    throw error;
  }
}
