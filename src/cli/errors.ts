// The CLI's two kinds of failure and their exit codes: a wrong command line (2, with the usage
// to show) and anything else the user can fix (1, with what to do next).

/** The command line itself is wrong: unknown command or option, missing argument. Exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly exitCode = 2;
  constructor(
    message: string,
    /** The command whose usage to show, if the error is about one. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** Something the user can fix: not logged in, unknown room, server refused. Exit code 1. */
export class CliError extends Error {
  override readonly name = "CliError";
  readonly exitCode = 1;
  constructor(
    /** Stable, for scripts reading `--json` errors. */
    readonly code: string,
    message: string,
    /** What to do about it, when there is something to do. */
    readonly hint?: string,
  ) {
    super(message);
  }
}
