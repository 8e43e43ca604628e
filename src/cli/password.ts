// Where a password comes from: --password, else $MYELIN_PASSWORD, else a prompt on the terminal
// that does not echo what is typed, else the first line of a piped standard input.
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { CliError } from "./errors.js";

export async function readPassword(flag: string | undefined, env: NodeJS.ProcessEnv): Promise<string> {
  const password = flag ?? env.MYELIN_PASSWORD ?? (await askPassword());
  if (password === "") {
    throw new CliError(
      "no_password",
      "no password given",
      "pass --password, set MYELIN_PASSWORD, or run in a terminal to be asked",
    );
  }
  return password;
}

async function askPassword(): Promise<string> {
  const terminal = process.stdin.isTTY === true;
  if (terminal) process.stderr.write("password: ");
  // readline still edits the line (backspace works) but writes its echo into this sink.
  const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: silent, terminal });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once("line", resolve);
      rl.once("close", () => resolve(""));
      // In terminal mode readline takes Ctrl-C for itself; without this it would be ignored.
      rl.once("SIGINT", () => reject(new CliError("cancelled", "cancelled")));
    });
  } finally {
    rl.close();
    if (terminal) process.stderr.write("\n");
  }
}
