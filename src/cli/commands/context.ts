// What every command handler gets: its parsed command line, where to print, the environment
// and the profile folder it works in.
import type { Invocation } from "../args.js";
import type { Output } from "../output.js";

export interface CommandContext {
  readonly inv: Invocation;
  readonly out: Output;
  readonly env: NodeJS.ProcessEnv;
  /** Absolute path of the profile folder. */
  readonly profile: string;
}

export type CommandHandler = (context: CommandContext) => Promise<void>;
