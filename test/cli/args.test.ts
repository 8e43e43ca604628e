// The command line table and its parsing, without running any command.
import { describe, expect, it } from "vitest";
import { COMMANDS, commandHelp, parseCommandLine, programHelp, type Invocation } from "../../src/cli/args.js";
import { HANDLERS } from "../../src/cli/commands/index.js";
import { UsageError } from "../../src/cli/errors.js";

function invocation(argv: string[]): Invocation {
  const parsed = parseCommandLine(argv);
  if (parsed.kind !== "run") throw new Error(`expected a command, got ${parsed.kind}`);
  return parsed.invocation;
}

function usageError(argv: string[]): UsageError {
  try {
    parseCommandLine(argv);
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error("expected a UsageError");
}

describe("myelin command line", () => {
  it("has a handler for every command in the table", () => {
    expect(Object.keys(HANDLERS).sort()).toEqual(COMMANDS.map((command) => command.name).sort());
  });

  it("accepts global options before and after the command", () => {
    const before = invocation(["--profile", "/p", "--json", "rooms"]);
    const after = invocation(["rooms", "--json", "--profile", "/p"]);
    for (const inv of [before, after]) {
      expect(inv.command.name).toBe("rooms");
      expect(inv.profile).toBe("/p");
      expect(inv.json).toBe(true);
    }
  });

  it("binds positional arguments by name and joins the rest into TEXT", () => {
    const inv = invocation(["send", "lobby", "hello", "there", "world"]);
    expect(inv.arg("ROOM")).toBe("lobby");
    expect(inv.arg("TEXT...")).toBe("hello there world");
  });

  it("reads a command's own options", () => {
    const inv = invocation(["create-room", "--name", "lobby", "--verification", "m.tofu"]);
    expect(inv.string("name")).toBe("lobby");
    expect(inv.string("verification")).toBe("m.tofu");
    expect(invocation(["messages", "lobby", "-f"]).flag("follow")).toBe(true);
  });

  it("leaves an optional positional out", () => {
    expect(invocation(["verify", "@bob:example.org"]).optionalArg("FINGERPRINT...")).toBeUndefined();
  });

  it("refuses a missing argument with the command's usage (exit code 2)", () => {
    const error = usageError(["invite", "lobby"]);
    expect(error.message).toBe("missing USER");
    expect(error.command).toBe("invite");
    expect(error.exitCode).toBe(2);
  });

  it("refuses an extra argument", () => {
    expect(usageError(["join", "!a:b", "extra"]).message).toBe("unexpected argument: extra");
  });

  it("refuses an unknown option, naming it without parseArgs' developer advice", () => {
    expect(usageError(["rooms", "--colour"]).message).toBe("Unknown option '--colour'");
  });

  it("refuses an unknown command and an empty command line", () => {
    expect(usageError(["fly"]).message).toBe("unknown command: fly");
    expect(usageError([]).message).toBe("no command given");
  });

  it("refuses a missing required option only when the command asks for it", () => {
    const inv = invocation(["login", "--user", "alice"]);
    expect(() => inv.required("server")).toThrow(UsageError);
  });

  it("answers --help, `help` and `help COMMAND`", () => {
    expect(parseCommandLine(["--help"])).toEqual({ kind: "help", json: false });
    expect(parseCommandLine(["help"])).toEqual({ kind: "help", json: false });
    const forSend = parseCommandLine(["send", "--help"]);
    expect(forSend.kind === "help" && forSend.command?.name).toBe("send");
    const viaHelp = parseCommandLine(["help", "chat"]);
    expect(viaHelp.kind === "help" && viaHelp.command?.name).toBe("chat");
  });

  it("lists every command in the program help and shows usage lines in command help", () => {
    const help = programHelp();
    for (const command of COMMANDS) expect(help).toContain(`  ${command.name} `);
    const verify = COMMANDS.find((command) => command.name === "verify");
    expect(verify && commandHelp(verify)).toContain("usage: myelin verify USER [FINGERPRINT]");
  });
});
