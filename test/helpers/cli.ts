// Runs the `myelin` CLI as a user would: a separate Node process on the sources (through tsx),
// with its own profile folder; and in a real terminal under tmux for the interactive chat.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ENTRY = ["--import", "tsx", "src/cli/main.ts"];

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a CLI process: the test's own, without any MYELIN_* setting leaking in. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("MYELIN_")));
  return { ...env, ...extra };
}

export function spawnCli(args: readonly string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [...ENTRY, ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** Runs one CLI command to its end; `input` is written to its standard input. */
export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<CliResult> {
  const child = spawnCli(args, options.env);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin?.end(options.input ?? "");
  const code = await new Promise<number>((resolve) =>
    child.once("close", (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1))),
  );
  return { code, stdout, stderr };
}

/** Like runCli, but fails the test with the CLI's output unless it exits 0. */
export async function cliOk(args: readonly string[], options: { env?: Record<string, string> } = {}) {
  const result = await runCli(args, options);
  if (result.code !== 0) {
    throw new Error(`myelin ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

/** The objects of --json output (one per line). */
export function jsonLines<T = Record<string, unknown>>(stdout: string): T[] {
  return stdout
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as T);
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

const run = promisify(execFile);

/**
 * One tmux server of its own (its own socket, so nothing else of the machine's tmux is touched)
 * with one session running the CLI in a terminal of the given size.
 */
export class TmuxCli {
  private constructor(
    private readonly socket: string,
    private readonly session: string,
  ) {}

  static async start(args: readonly string[], size = { columns: 120, rows: 30 }): Promise<TmuxCli> {
    const id = `myelin-cli-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const tmux = new TmuxCli(id, id);
    const command = [process.execPath, ...ENTRY, ...args].map(shellQuote).join(" ");
    // The shell stays a while after the CLI exits, so its exit code can be read from the pane.
    await tmux.tmux(
      "new-session",
      "-d",
      "-s",
      id,
      "-x",
      String(size.columns),
      "-y",
      String(size.rows),
      "-c",
      ROOT,
      `${command}; echo "[exit $?]"; sleep 120`,
    );
    return tmux;
  }

  private async tmux(...args: string[]): Promise<string> {
    const { stdout } = await run("tmux", ["-L", this.socket, ...args], { cwd: ROOT, env: cliEnv() });
    return stdout;
  }

  /** Types text literally (no key names), without Enter. */
  async type(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", this.session, "-l", text);
  }

  async press(key: "Enter" | "C-c" | "C-d"): Promise<void> {
    await this.tmux("send-keys", "-t", this.session, key);
  }

  /** The visible screen, one string per row, trailing spaces trimmed. */
  async screen(): Promise<string[]> {
    const text = await this.tmux("capture-pane", "-p", "-t", this.session);
    return text.split("\n").map((row) => row.trimEnd());
  }

  /** The last non-empty row of the screen (where the prompt is). */
  async lastRow(): Promise<string> {
    return (await this.screen()).filter((row) => row !== "").at(-1) ?? "";
  }

  async waitForScreen(
    what: string,
    test: (rows: string[]) => boolean,
    timeoutMs = 20_000,
  ): Promise<string[]> {
    try {
      return await waitFor(
        what,
        async () => {
          const rows = await this.screen();
          return test(rows) ? rows : undefined;
        },
        timeoutMs,
      );
    } catch (error) {
      const screen = (await this.screen()).join("\n");
      throw new Error(`${(error as Error).message}; screen:\n${screen}`, { cause: error });
    }
  }

  /** Ends the tmux server and every process in it. */
  async kill(): Promise<void> {
    await this.tmux("kill-server").catch(() => undefined);
  }
}
