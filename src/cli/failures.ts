// Turns whatever an SDK call threw into a CliError that says what went wrong and what to do.
import { DeviceTrustError } from "../client/device/errors.js";
import { MyelinError } from "../client/errors.js";
import { HomeserverUnreachableError, MatrixApiError } from "../client/http/matrixHttp.js";
import { CliError, UsageError } from "./errors.js";

export const LOGIN_HINT = "run `myelin login --server URL --user NAME` (or `myelin register ...`)";

const MATRIX_HINTS: Readonly<Record<string, string>> = {
  M_USER_IN_USE: "choose another --user, or `myelin login` if the account is yours",
  M_FORBIDDEN: "check the user name, password or your rights in the room",
  M_UNKNOWN_TOKEN: "this device was logged out: log in again with a new --profile",
  M_LIMIT_EXCEEDED: "the server is rate limiting: wait a moment and try again",
  M_INVALID_USERNAME: "user names may use a-z, 0-9 and . _ = - / +",
  M_NOT_FOUND: "check the room or user ID",
};

const SDK_HINTS: Readonly<Record<string, string>> = {
  NOT_LOGGED_IN: LOGIN_HINT,
  UNKNOWN_ROOM: "run `myelin rooms` to list the rooms this profile knows",
  NOT_IN_ROOM: "run `myelin rooms` to see where you are joined",
  NO_WELCOME: "ask the inviter to invite you again, then run `myelin join` once more",
  NO_DEVICES: "if their verification is too low for the room: `myelin verify USER`, then invite again",
  "no-master-key": "the user must log in (or register) with a Myelin client first",
  "fingerprint-mismatch": "do not trust this user yet: compare the fingerprint again over a trusted channel",
  "no-cross-signing-keys": "approve this device from a device that holds your keys (myelin approve-device)",
  "own-user": "approve your own devices with `myelin approve-device DEVICE`",
};

/** `server` is the homeserver the command talked to, for the "unreachable" message. */
export function toCliError(error: unknown, server?: string): CliError | UsageError {
  if (error instanceof CliError || error instanceof UsageError) return error;
  if (error instanceof HomeserverUnreachableError) {
    return new CliError(
      "server_unreachable",
      server === undefined ? `server unreachable: ${error.message}` : `server unreachable at ${server}`,
      "check the URL and that the homeserver is running, then try again",
    );
  }
  if (error instanceof MatrixApiError) {
    return new CliError(error.errcode, `the server refused: ${error.message}`, MATRIX_HINTS[error.errcode]);
  }
  if (error instanceof MyelinError || error instanceof DeviceTrustError) {
    return new CliError(error.code, error.message, SDK_HINTS[error.code]);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(
    "internal",
    `unexpected failure: ${message}`,
    "please report this with the command you ran",
  );
}
