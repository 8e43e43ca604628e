// Matrix errors: every refusal carries an errcode and an HTTP status (client-server spec,
// "Standard error response"), plus any extra fields the errcode defines.

export class MatrixError extends Error {
  override readonly name = "MatrixError";
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const badJson = (message: string) => new MatrixError(400, "M_BAD_JSON", message);
export const notJson = (message = "Content not JSON.") => new MatrixError(400, "M_NOT_JSON", message);
export const missingParam = (name: string) =>
  new MatrixError(400, "M_MISSING_PARAM", `Missing parameter: ${name}`);
export const invalidParam = (message: string) => new MatrixError(400, "M_INVALID_PARAM", message);
export const forbidden = (message: string) => new MatrixError(403, "M_FORBIDDEN", message);
export const notFound = (message: string) => new MatrixError(404, "M_NOT_FOUND", message);
export const unrecognized = (message = "Unrecognized request") =>
  new MatrixError(404, "M_UNRECOGNIZED", message);
export const missingToken = () => new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
export const unknownToken = () =>
  new MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", { soft_logout: false });
export const tooLarge = (limit: number) =>
  new MatrixError(413, "M_TOO_LARGE", `Request body is larger than the limit of ${limit} bytes`);
export const limitExceeded = (retryAfterMs: number) =>
  new MatrixError(429, "M_LIMIT_EXCEEDED", "Too many requests", { retry_after_ms: retryAfterMs });
export const unsupportedRoomVersion = (version: string) =>
  new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${version} is not supported here`);
