// Why the keys domain refuses a request: an errcode of the client-server spec and a message, with
// no HTTP status. The edges (api/keys.ts, federation/edus/userKeys.ts) answer it as a Matrix
// error with its status (http/keyErrors.ts).
export type KeyErrcode =
  "M_BAD_JSON" | "M_INVALID_PARAM" | "M_MISSING_PARAM" | "M_INVALID_SIGNATURE" | "M_FORBIDDEN";

export class KeyError extends Error {
  override readonly name = "KeyError";
  constructor(
    readonly errcode: KeyErrcode,
    message: string,
  ) {
    super(message);
  }
}

export const badJson = (message: string) => new KeyError("M_BAD_JSON", message);
export const invalidParam = (message: string) => new KeyError("M_INVALID_PARAM", message);
export const missingParam = (name: string) => new KeyError("M_MISSING_PARAM", `Missing parameter: ${name}`);
export const invalidSignature = (message: string) => new KeyError("M_INVALID_SIGNATURE", message);
export const forbidden = (message: string) => new KeyError("M_FORBIDDEN", message);
