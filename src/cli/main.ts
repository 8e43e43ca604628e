#!/usr/bin/env node
// `myelin`: the command-line client. Parses the command line, runs the command in its profile,
// prints the result or the error with what to do, and exits 0 (done), 1 (failed) or 2 (usage).
import { commandHelp, parseCommandLine, programHelp } from "./args.js";
import { HANDLERS } from "./commands/index.js";
import { toCliError } from "./failures.js";
import { Output } from "./output.js";
import { profileDir } from "./profile.js";

async function main(argv: readonly string[]): Promise<number> {
  // Until the command line is parsed, errors are printed as text unless --json is plainly there.
  let out = new Output(argv.includes("--json"));
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.kind === "help") {
      process.stdout.write(`${parsed.command ? commandHelp(parsed.command) : programHelp()}\n`);
      return 0;
    }
    const { invocation } = parsed;
    out = new Output(invocation.json);
    const handler = HANDLERS[invocation.command.name];
    if (handler === undefined) throw new Error(`no handler for ${invocation.command.name}`);
    await handler({
      inv: invocation,
      out,
      env: process.env,
      profile: profileDir(invocation.profile, process.env),
    });
    return 0;
  } catch (error) {
    const failure = toCliError(error);
    out.error(failure);
    return failure.exitCode;
  }
}

const code = await main(process.argv.slice(2));
// Exit once stdout is flushed: lingering keep-alive sockets must not hold a finished command open.
process.stdout.write("", () => process.exit(code));
