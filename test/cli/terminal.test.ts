// The CLI in a real terminal (tmux). `myelin chat`: a message from bob appears in alice's pane
// while she is typing, her unfinished line survives the redraw, and what she enters is sent to
// the room. `register` without a password asks for one without echoing it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { cliOk, jsonLines, runCli, TmuxCli, waitFor } from "../helpers/cli.js";

const PASSWORD = "correct horse battery";

describe("myelin in a terminal", { timeout: 90_000 }, () => {
  let server: ServerProcess;
  let home: string;
  let tmux: TmuxCli | undefined;
  let prompt: TmuxCli | undefined;
  const profile = (name: string) => join(home, name);
  const alice = (...args: string[]) => cliOk(["--profile", profile("alice"), ...args]);
  const bob = (...args: string[]) => cliOk(["--profile", profile("bob"), ...args]);
  let bobId: string;

  const bobsBodies = async () =>
    jsonLines<{ content: { body: string } }>((await bob("messages", "lobby", "--json")).stdout).map(
      (message) => message.content.body,
    );

  beforeAll(async () => {
    server = await startServerProcess();
    home = mkdtempSync(join(tmpdir(), "myelin-chat-"));
    const env = { env: { MYELIN_PASSWORD: PASSWORD } };
    await cliOk(["--profile", profile("alice"), "register", "--server", server.url, "--user", "alice"], env);
    await cliOk(["--profile", profile("bob"), "register", "--server", server.url, "--user", "bob"], env);
    const me = jsonLines<{ userId: string; fingerprint: string }>((await bob("whoami", "--json")).stdout)[0];
    bobId = me?.userId ?? "";
    await alice("create-room", "--name", "lobby");
    await alice("verify", bobId, me?.fingerprint ?? "");
    await alice("invite", "lobby", bobId);
    const invite = jsonLines<{ roomId: string }>((await bob("rooms", "--json")).stdout)[0];
    await bob("join", invite?.roomId ?? "");
    await bob("send", "lobby", "before the chat");
    tmux = await TmuxCli.start(["--profile", profile("alice"), "chat", "lobby"]);
  }, 90_000);

  afterAll(async () => {
    await tmux?.kill();
    await prompt?.kill();
    await server?.destroy();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("shows the room's recent history and a prompt named after the room", async () => {
    const screen = await tmux!.waitForScreen("the prompt", (rows) => rows.some((row) => row === "lobby>"));
    const line = new RegExp(`^\\[\\d\\d:\\d\\d\\] ${bobId} \\(\\w+\\): before the chat$`);
    expect(screen.some((row) => line.test(row))).toBe(true);
  });

  it("holds the profile while it runs: another command on it exits 1", async () => {
    const result = await runCli(["--profile", profile("alice"), "rooms"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("in use by another myelin process");
  });

  it("a message from bob appears while alice types, and her unfinished line is redrawn", async () => {
    await tmux!.type("typing in prog");
    await tmux!.waitForScreen("the typed text", (rows) => rows.includes("lobby> typing in prog"));
    await bob("send", "lobby", "hi from bob");
    const screen = await tmux!.waitForScreen("bob's message", (rows) =>
      rows.some((row) => row.endsWith(": hi from bob")),
    );
    const arrived = screen.findIndex((row) => row.endsWith(": hi from bob"));
    expect(screen[arrived]).toMatch(new RegExp(`^\\[\\d\\d:\\d\\d\\] ${bobId} \\(\\w+\\): hi from bob$`));
    expect(await tmux!.lastRow()).toBe("lobby> typing in prog");
  });

  it("the line alice enters is sent to the room and shown as her message", async () => {
    await tmux!.type("ress");
    await tmux!.press("Enter");
    await tmux!.waitForScreen("alice's own message", (rows) =>
      rows.some((row) => /@alice:\S+ \(\w+\): typing in progress$/.test(row)),
    );
    expect(await tmux!.lastRow()).toBe("lobby>");
    await waitFor("bob to receive it", async () =>
      (await bobsBodies()).includes("typing in progress") ? true : undefined,
    );
  });

  it("/members lists both members", async () => {
    await tmux!.type("/members");
    await tmux!.press("Enter");
    await tmux!.waitForScreen("the member list", (rows) => rows.some((row) => row.startsWith(`${bobId} (`)));
  });

  it("/topic changes the topic for everyone", async () => {
    await tmux!.type("/topic chatting");
    await tmux!.press("Enter");
    await waitFor("bob to see the topic", async () => {
      const rooms = jsonLines<{ topic?: string }>((await bob("rooms", "--json")).stdout);
      return rooms.some((room) => room.topic === "chatting") ? true : undefined;
    });
  });

  it("/quit ends the chat with exit code 0 and frees the profile", async () => {
    await tmux!.type("/quit");
    await tmux!.press("Enter");
    await tmux!.waitForScreen("the chat to exit", (rows) => rows.includes("[exit 0]"));
    expect((await alice("rooms")).stdout).toContain("lobby");
  });

  it("register asks for the password on the terminal without echoing it", async () => {
    const secret = "not shown anywhere";
    prompt = await TmuxCli.start([
      "--profile",
      profile("carol"),
      "register",
      "--server",
      server.url,
      "--user",
      "carol",
    ]);
    await prompt.waitForScreen("the password prompt", (rows) => rows.includes("password:"));
    await prompt.type(secret);
    await prompt.press("Enter");
    const screen = await prompt.waitForScreen("register to finish", (rows) => rows.includes("[exit 0]"));
    expect(screen).toContain("registered");
    expect(screen.join("\n")).not.toContain(secret);
    const login = await runCli(
      ["--profile", profile("carol-2"), "login", "--server", server.url, "--user", "carol"],
      {
        env: { MYELIN_PASSWORD: secret },
      },
    );
    expect(login.code, login.stderr).toBe(0);
  });
});
