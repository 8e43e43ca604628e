// The command line: every command's arguments and options in one table, parsed with
// node:util parseArgs, and the help text generated from that same table.
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly short?: string;
  /** Placeholder for a string option's value in help ("URL"). */
  readonly value?: string;
  readonly help: string;
}

export interface CommandSpec {
  readonly name: string;
  /** Positional arguments in order; a trailing "..." name takes the rest, joined by spaces. */
  readonly args: readonly string[];
  /** Positional arguments from this index on may be left out. */
  readonly optionalFrom?: number;
  readonly summary: string;
  readonly details?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
}

export const GLOBAL_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  profile: {
    type: "string",
    value: "DIR",
    help: "profile folder (default: $MYELIN_PROFILE, else ~/.myelin/default)",
  },
  json: { type: "boolean", help: "print one JSON object per line instead of text" },
  help: { type: "boolean", short: "h", help: "show help" },
};

const SERVER: OptionSpec = { type: "string", value: "URL", help: "homeserver base URL (http://host:port)" };
const USER: OptionSpec = { type: "string", value: "NAME", help: "user name (localpart or @user:server)" };
const PASSWORD: OptionSpec = {
  type: "string",
  value: "PASSWORD",
  help: "password (else $MYELIN_PASSWORD, else asked for without echo)",
};
const DEVICE_NAME: OptionSpec = { type: "string", value: "NAME", help: "display name of this device" };

const ROOM_NOTE = "ROOM is a room ID (!abc:server) or the name of a room this profile knows.";
const USER_NOTE = "USER is @user:server, or a bare user name on your own server.";

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: "register",
    args: [],
    summary: "create an account and this device; the profile keeps the login",
    options: {
      server: SERVER,
      user: USER,
      password: PASSWORD,
      "device-name": DEVICE_NAME,
      "registration-token": { type: "string", value: "TOKEN", help: "token for servers that require one" },
    },
  },
  {
    name: "login",
    args: [],
    summary: "log in as a new device of an existing account",
    options: { server: SERVER, user: USER, password: PASSWORD, "device-name": DEVICE_NAME },
  },
  {
    name: "whoami",
    args: [],
    summary: "show the user, device, server and your master key fingerprint",
    details: "Give the fingerprint to people who want to verify you (myelin verify).",
    options: {},
  },
  { name: "sync", args: [], summary: "fetch and process everything new; print what arrived", options: {} },
  { name: "rooms", args: [], summary: "list the rooms this profile knows", options: {} },
  {
    name: "create-room",
    args: [],
    summary: "create an encrypted room",
    options: {
      name: { type: "string", value: "NAME", help: "room name (kept inside the MLS group)" },
      topic: { type: "string", value: "TOPIC", help: "room topic (kept inside the MLS group)" },
      verification: {
        type: "string",
        value: "LEVEL",
        help: "who may be added: m.cross (default), m.direct, m.tofu or m.none",
      },
      window: { type: "string", value: "SECONDS", help: "how long old epoch secrets are kept (default 0)" },
    },
  },
  {
    name: "invite",
    args: ["ROOM", "USER"],
    summary: "add a user's devices to the room and invite them",
    details: `${ROOM_NOTE}\n${USER_NOTE}\nThe room's required verification decides which devices may be added.`,
    options: {},
  },
  {
    name: "join",
    args: ["ROOM"],
    summary: "join a room you were invited to",
    details: "ROOM is the room ID shown by `myelin rooms` for the invite.",
    options: {},
  },
  {
    name: "send",
    args: ["ROOM", "TEXT..."],
    summary: "send a text message",
    details: ROOM_NOTE,
    options: {},
  },
  {
    name: "messages",
    args: ["ROOM"],
    summary: "print the room's decrypted history",
    details: ROOM_NOTE,
    options: {
      follow: { type: "boolean", short: "f", help: "keep running and print new messages (Ctrl-C stops)" },
      limit: { type: "string", value: "N", help: "print only the last N messages" },
    },
  },
  { name: "members", args: ["ROOM"], summary: "list the room's members (from the MLS group)", options: {} },
  { name: "set-name", args: ["ROOM", "NAME..."], summary: "rename the room", options: {} },
  { name: "set-topic", args: ["ROOM", "TOPIC..."], summary: "change the room's topic", options: {} },
  {
    name: "remove",
    args: ["ROOM", "USER"],
    summary: "remove a user (all their devices) from the room",
    details: `${ROOM_NOTE}\n${USER_NOTE}`,
    options: {},
  },
  { name: "leave", args: ["ROOM"], summary: "leave the room", options: {} },
  { name: "devices", args: [], summary: "list your devices and how they are verified", options: {} },
  {
    name: "verify",
    args: ["USER", "FINGERPRINT..."],
    optionalFrom: 1,
    summary: "show a user's master key fingerprint, or verify it",
    details:
      "Without FINGERPRINT, prints the fingerprint the server gives for USER. With it (as the user\n" +
      "reads it to you, e.g. from their `myelin whoami`), marks USER verified if they match.",
    options: {},
  },
  {
    name: "approve-device",
    args: ["DEVICE"],
    summary: "cross-sign your own new device and add it to every room you are in",
    options: {},
  },
  {
    name: "chat",
    args: ["ROOM"],
    summary: "interactive chat in a room",
    details:
      `${ROOM_NOTE}\nType a line to send it. Commands: /members, /name NAME, /topic TOPIC, /help, /quit\n` +
      "(Ctrl-D and Ctrl-C quit too).",
    options: {},
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((command) => command.name === name);
}

/** One parsed command line. */
export class Invocation {
  constructor(
    readonly command: CommandSpec,
    private readonly values: Readonly<Record<string, string | boolean | undefined>>,
    private readonly positionals: Readonly<Record<string, string>>,
  ) {}

  get json(): boolean {
    return this.values.json === true;
  }
  get profile(): string | undefined {
    return this.string("profile");
  }
  /** A positional argument by its name in the spec ("ROOM", "TEXT..."). */
  arg(name: string): string {
    const value = this.positionals[name];
    if (value === undefined) throw new UsageError(`missing ${name.replace("...", "")}`, this.command.name);
    return value;
  }
  optionalArg(name: string): string | undefined {
    return this.positionals[name];
  }
  string(option: string): string | undefined {
    const value = this.values[option];
    return typeof value === "string" ? value : undefined;
  }
  /** A string option the command cannot do without. */
  required(option: string): string {
    const value = this.string(option);
    if (value === undefined || value === "")
      throw new UsageError(`--${option} is required`, this.command.name);
    return value;
  }
  flag(option: string): boolean {
    return this.values[option] === true;
  }
}

export type ParsedCommandLine =
  | { readonly kind: "help"; readonly command?: CommandSpec; readonly json: boolean }
  | { readonly kind: "run"; readonly invocation: Invocation };

type ParseArgsOptions = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

function toParseArgs(specs: Readonly<Record<string, OptionSpec>>): ParseArgsOptions {
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short },
    ]),
  );
}

function explain(error: unknown): string {
  // parseArgs' messages end with advice for developers ("To specify a positional argument ...").
  const message = error instanceof Error ? error.message : String(error);
  return message.split(/\. (?=To )/)[0] ?? message;
}

/**
 * Global options may come before or after the command; the command's own options after it.
 * `myelin help [COMMAND]` and `--help` anywhere ask for help.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  let globalTokens;
  try {
    ({ tokens: globalTokens } = parseArgs({
      args: [...argv],
      options: toParseArgs(GLOBAL_OPTIONS),
      strict: false,
      allowPositionals: true,
      tokens: true,
    }));
  } catch (error) {
    throw new UsageError(explain(error));
  }
  const first = globalTokens.find((token) => token.kind === "positional");
  const wantsHelp = globalTokens.some((token) => token.kind === "option" && token.name === "help");
  const json = globalTokens.some((token) => token.kind === "option" && token.name === "json");
  if (first === undefined) {
    if (wantsHelp) return { kind: "help", json };
    throw new UsageError("no command given");
  }
  const rest = [...argv.slice(0, first.index), ...argv.slice(first.index + 1)];
  if (first.value === "help") {
    const topic = rest.find((arg) => !arg.startsWith("-"));
    if (topic === undefined) return { kind: "help", json };
    const command = findCommand(topic);
    if (command === undefined) throw new UsageError(`unknown command: ${topic}`);
    return { kind: "help", command, json };
  }
  const command = findCommand(first.value);
  if (command === undefined) throw new UsageError(`unknown command: ${first.value}`);
  if (wantsHelp) return { kind: "help", command, json };

  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: toParseArgs({ ...GLOBAL_OPTIONS, ...command.options }),
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(explain(error), command.name);
  }
  return {
    kind: "run",
    invocation: new Invocation(command, parsed.values, bindPositionals(command, parsed.positionals)),
  };
}

function bindPositionals(command: CommandSpec, given: readonly string[]): Record<string, string> {
  const bound: Record<string, string> = {};
  const required = command.optionalFrom ?? command.args.length;
  const takesRest = command.args.at(-1)?.endsWith("...") ?? false;
  if (given.length < required) {
    throw new UsageError(`missing ${command.args[given.length]?.replace("...", "")}`, command.name);
  }
  if (!takesRest && given.length > command.args.length) {
    throw new UsageError(`unexpected argument: ${given[command.args.length]}`, command.name);
  }
  command.args.forEach((name, index) => {
    const value = name.endsWith("...") ? given.slice(index).join(" ") : given[index];
    if (value !== undefined && value !== "") bound[name] = value;
  });
  return bound;
}

function usageLine(command: CommandSpec): string {
  const args = command.args.map((name, index) => {
    const shown = name.replace("...", "");
    return index >= (command.optionalFrom ?? command.args.length) ? `[${shown}]` : shown;
  });
  const options = Object.keys(command.options).length > 0 ? " [options]" : "";
  return ["myelin", command.name, ...args].join(" ") + options;
}

function optionLines(specs: Readonly<Record<string, OptionSpec>>): string[] {
  const rows = Object.entries(specs).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : ""}--${name}${spec.value ? ` ${spec.value}` : ""}`;
    return [flag, spec.help] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return rows.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`);
}

export function programHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return [
    "myelin: an end-to-end encrypted (MLS) Matrix client",
    "",
    "usage: myelin [--profile DIR] [--json] COMMAND [arguments] [options]",
    "",
    "commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    "",
    "options for every command:",
    ...optionLines(GLOBAL_OPTIONS),
    "",
    "`myelin COMMAND --help` describes one command. Exit codes: 0 done, 1 failed, 2 wrong usage.",
  ].join("\n");
}

export function commandHelp(command: CommandSpec): string {
  return [
    `usage: ${usageLine(command)}`,
    "",
    `${command.summary.charAt(0).toUpperCase()}${command.summary.slice(1)}.`,
    ...(command.details ? ["", command.details] : []),
    ...(Object.keys(command.options).length > 0 ? ["", "options:", ...optionLines(command.options)] : []),
    "",
    "options for every command:",
    ...optionLines(GLOBAL_OPTIONS),
  ].join("\n");
}

export function usageHint(command?: string): string {
  return command === undefined ? "run `myelin --help`" : `run \`myelin ${command} --help\``;
}
