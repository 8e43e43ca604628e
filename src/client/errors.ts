// Errors of the SDK itself (the homeserver's own refusals are MatrixApiError): each says what went
// wrong and what the user can do about it.

export type MyelinErrorCode =
  | "NOT_LOGGED_IN"
  | "UNKNOWN_ROOM"
  | "NOT_A_MEMBER"
  | "NO_WELCOME"
  | "NO_DEVICES"
  | "NOT_IN_ROOM"
  | "CANNOT_COMMIT"
  | "COMMIT_FAILED"
  | "BAD_STATE"
  | "SEND_FAILED";

export class MyelinError extends Error {
  override readonly name = "MyelinError";
  constructor(
    readonly code: MyelinErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export class NotLoggedInError extends MyelinError {
  constructor() {
    super("NOT_LOGGED_IN", "this profile is not logged in: register or log in first");
  }
}
