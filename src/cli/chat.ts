// `myelin chat ROOM`: an interactive chat on node:readline. The background sync loop delivers
// messages while the user types; each arrives above the prompt, which is redrawn with whatever
// was typed so far. A typed line is sent; lines starting with "/" are commands.
import { clearScreenDown, createInterface, cursorTo, moveCursor, type Interface } from "node:readline";
import type { MyelinClient } from "../client/client.js";
import type { ClientEvent, RoomSummary } from "../client/events.js";
import type { CommandContext } from "./commands/context.js";
import { concernsRoom } from "./commands/messages.js";
import { CliError, UsageError } from "./errors.js";
import { toCliError } from "./failures.js";
import { formatEvent, formatMember, formatMessage } from "./output.js";
import { withClient } from "./profile.js";
import { resolveRoom } from "./resolve.js";

const HISTORY_SHOWN = 20;
const HELP = "commands: /members, /name NAME, /topic TOPIC, /help, /quit (or Ctrl-D)";

/** The terminal side: printing above the prompt without disturbing the line being typed. */
class ChatScreen {
  readonly rl: Interface;
  private readonly terminal: boolean;

  constructor(prompt: string) {
    this.terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
    this.rl = createInterface({
      input: process.stdin,
      output: process.stdout,
      prompt,
      terminal: this.terminal,
    });
  }

  /** Prints lines above the prompt and redraws the prompt with the unfinished input. */
  show(text: string): void {
    if (!this.terminal) {
      process.stdout.write(`${text}\n`);
      return;
    }
    const { rows } = this.rl.getCursorPos();
    moveCursor(process.stdout, 0, -rows);
    cursorTo(process.stdout, 0);
    clearScreenDown(process.stdout);
    // The blank rows put the cursor where readline believes it is, `rows` below the prompt's
    // start; prompt(true) moves up by that much before redrawing.
    process.stdout.write(`${text}\n${"\n".repeat(rows)}`);
    this.rl.prompt(true);
  }

  /** Erases the line just entered (readline left it on screen); it is shown again once sent. */
  eraseEntered(line: string): void {
    if (!this.terminal) return;
    const columns = process.stdout.columns || 80;
    const rows = Math.floor((this.rl.getPrompt().length + line.length) / columns) + 1;
    moveCursor(process.stdout, 0, -rows);
    cursorTo(process.stdout, 0);
    clearScreenDown(process.stdout);
  }

  /** Draws the prompt; when input is piped there is nobody to prompt. */
  prompt(): void {
    if (this.terminal) this.rl.prompt(true);
  }

  setPrompt(prompt: string): void {
    this.rl.setPrompt(prompt);
    this.prompt();
  }
}

function promptFor(room: RoomSummary): string {
  return `${room.name ?? room.roomId}> `;
}

class ChatSession {
  /** Sends and commands run one after another, in the order typed. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: MyelinClient,
    private readonly roomId: string,
    private readonly screen: ChatScreen,
  ) {}

  onEvent(event: ClientEvent): void {
    // Our own messages come this way too, once the server took them.
    if (!concernsRoom(event, this.roomId)) return;
    const line = formatEvent(event);
    if (line !== undefined) this.screen.show(line);
    if (event.kind === "state" && event.eventType === "m.room.name") {
      const room = this.client.rooms().find((candidate) => candidate.roomId === this.roomId);
      if (room !== undefined) this.screen.setPrompt(promptFor(room));
    }
  }

  /** Queues what the user entered; returns false when the line asks to quit. */
  enter(line: string): boolean {
    const text = line.trim();
    this.screen.eraseEntered(line);
    if (text === "/quit") return false;
    this.screen.prompt();
    if (text !== "") this.queue = this.queue.then(() => this.handle(text));
    return true;
  }

  finished(): Promise<void> {
    return this.queue;
  }

  private async handle(text: string): Promise<void> {
    try {
      if (text.startsWith("/")) await this.command(text);
      else await this.client.sendText(this.roomId, text);
    } catch (error) {
      const failure = toCliError(error, this.client.baseUrl);
      this.screen.show(`! ${failure.message}${failure instanceof UsageError ? "" : hintOf(failure.hint)}`);
    }
  }

  private async command(text: string): Promise<void> {
    const space = text.indexOf(" ");
    const name = space < 0 ? text : text.slice(0, space);
    const argument = space < 0 ? "" : text.slice(space + 1).trim();
    switch (name) {
      case "/members":
        this.screen.show((await this.client.members(this.roomId)).map(formatMember).join("\n"));
        return;
      case "/name":
      case "/topic":
        if (argument === "") {
          this.screen.show(`! ${name} needs a value: ${name} TEXT`);
          return;
        }
        if (name === "/name") await this.client.setName(this.roomId, argument);
        else await this.client.setTopic(this.roomId, argument);
        return;
      case "/help":
        this.screen.show(HELP);
        return;
      default:
        this.screen.show(`! unknown command ${name}; ${HELP}`);
    }
  }
}

function hintOf(hint: string | undefined): string {
  return hint === undefined ? "" : ` (${hint})`;
}

export async function chat(context: CommandContext): Promise<void> {
  if (context.inv.json) {
    throw new UsageError(
      "chat is interactive and has no --json output: use `messages --follow --json`",
      "chat",
    );
  }
  await withClient(context.profile, async (client) => {
    const room = resolveRoom(client.rooms(), context.inv.arg("ROOM"));
    if (room.membership !== "joined") {
      throw new CliError(
        "not_joined",
        `you are not in ${room.roomId}`,
        `run \`myelin join ${room.roomId}\` first`,
      );
    }
    const history = await client.messages(room.roomId);
    const screen = new ChatScreen(promptFor(room));
    const session = new ChatSession(client, room.roomId, screen);
    for (const message of history.slice(-HISTORY_SHOWN)) process.stdout.write(`${formatMessage(message)}\n`);
    process.stdout.write(`${HELP}\n`);
    client.on((event) => session.onEvent(event));
    client.start();
    screen.prompt();
    await new Promise<void>((resolve) => {
      const quit = (): void => screen.rl.close();
      screen.rl.on("line", (line) => {
        if (!session.enter(line)) quit();
      });
      // Ctrl-C reaches readline as a key on a terminal, as a signal otherwise.
      screen.rl.on("SIGINT", quit);
      process.on("SIGINT", quit);
      process.on("SIGTERM", quit);
      screen.rl.on("close", resolve);
    });
    await session.finished();
    process.stdout.write("\n");
  });
}
