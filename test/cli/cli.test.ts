// The `myelin` CLI as a user runs it, against a real homeserver process: two people register,
// one creates a named room, verifies the other and invites them, both talk, the room is renamed
// and re-topiced, one is removed; and the errors say what to do and leave the profile usable.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { cliOk, jsonLines, runCli, spawnCli, waitFor } from "../helpers/cli.js";

const PASSWORD = "correct horse battery";

describe("myelin CLI against a real homeserver", { timeout: 90_000 }, () => {
  let server: ServerProcess;
  let home: string;
  const profile = (name: string) => join(home, name);
  const alice = (...args: string[]) => cliOk(["--profile", profile("alice"), ...args]);
  const bob = (...args: string[]) => cliOk(["--profile", profile("bob"), ...args]);
  let aliceId: string;
  let bobId: string;
  let bobDevice: string;
  let roomId: string;

  beforeAll(async () => {
    server = await startServerProcess();
    home = mkdtempSync(join(tmpdir(), "myelin-cli-"));
  }, 60_000);

  afterAll(async () => {
    await server?.destroy();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("--help lists the commands and exits 0", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("create-room");
    expect(result.stdout).toContain("chat");
  });

  it("a wrong command line exits 2 and points at the command's help", async () => {
    const result = await runCli(["send", "lobby"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("missing TEXT");
    expect(result.stderr).toContain("myelin send --help");
  });

  it("a command on a profile that never logged in exits 1 with the login hint", async () => {
    const result = await runCli(["--profile", profile("nobody"), "rooms"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not logged in");
    expect(result.stderr).toContain("myelin login --server URL --user NAME");
  });

  it("with --json, an error is one JSON object on stderr", async () => {
    const result = await runCli(["--profile", profile("nobody"), "--json", "rooms"]);
    expect(result.code).toBe(1);
    expect(jsonLines(result.stderr)).toEqual([
      expect.objectContaining({ error: "not_logged_in", hint: expect.stringContaining("myelin login") }),
    ]);
  });

  it("register creates the profile folder with mode 0700 and prints who we are", async () => {
    const result = await alice(
      "register",
      "--server",
      server.url,
      "--user",
      "alice",
      "--password",
      PASSWORD,
      "--json",
    );
    const [me] = jsonLines<{ userId: string; deviceId: string; fingerprint: string }>(result.stdout);
    aliceId = me?.userId ?? "";
    expect(aliceId).toBe(`@alice:${server.serverName}`);
    expect(statSync(profile("alice")).mode & 0o777).toBe(0o700);
    expect(statSync(join(profile("alice"), "store.sqlite")).isFile()).toBe(true);
  });

  it("register takes the password from MYELIN_PASSWORD", async () => {
    const result = await runCli(
      ["--profile", profile("bob"), "register", "--server", server.url, "--user", "bob"],
      {
        env: { MYELIN_PASSWORD: PASSWORD },
      },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`@bob:${server.serverName}`);
  });

  it("register refuses a profile that is already logged in", async () => {
    const result = await runCli([
      "--profile",
      profile("alice"),
      "register",
      "--server",
      server.url,
      "--user",
      "alice2",
      "--password",
      PASSWORD,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("already logged in as @alice");
  });

  it("whoami --json gives user, device and fingerprint", async () => {
    const [me] = jsonLines<{ userId: string; deviceId: string; fingerprint: string }>(
      (await bob("whoami", "--json")).stdout,
    );
    bobId = me?.userId ?? "";
    bobDevice = me?.deviceId ?? "";
    expect(bobId).toBe(`@bob:${server.serverName}`);
    expect(bobDevice).not.toBe("");
    expect(me?.fingerprint).not.toBe("");
  });

  it("create-room makes a named room that `rooms` lists", async () => {
    const created = await alice("create-room", "--name", "lobby", "--topic", "first topic", "--json");
    roomId = (jsonLines<{ roomId: string }>(created.stdout)[0]?.roomId ?? "") as string;
    expect(roomId).toMatch(/^!/);
    const listed = (await alice("rooms")).stdout;
    expect(listed).toContain(roomId);
    expect(listed).toContain('"lobby"');
  });

  it("invite under the default required_verification m.cross refuses an unverified user, hinting to verify", async () => {
    const result = await runCli(["--profile", profile("alice"), "invite", "lobby", "bob"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("myelin verify");
  });

  it("verify without a fingerprint shows the one bob sees in whoami", async () => {
    const bobs = jsonLines<{ fingerprint: string }>((await bob("whoami", "--json")).stdout)[0]?.fingerprint;
    const shown = jsonLines<{ fingerprint: string; verified: boolean }>(
      (await alice("verify", "bob", "--json")).stdout,
    );
    expect(shown).toEqual([expect.objectContaining({ fingerprint: bobs, verified: false })]);
  });

  it("verify with bob's fingerprint marks him verified", async () => {
    const fingerprint =
      jsonLines<{ fingerprint: string }>((await bob("whoami", "--json")).stdout)[0]?.fingerprint ?? "";
    const result = await alice("verify", bobId, fingerprint);
    expect(result.stdout).toContain(`${bobId} verified`);
  });

  it("a wrong fingerprint is refused with exit 1", async () => {
    const result = await runCli(["--profile", profile("alice"), "verify", bobId, "0000 0000"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/fingerprint/i);
  });

  it("invite by room name adds bob's device", async () => {
    const [result] = jsonLines<{ added: { deviceId: string }[] }>(
      (await alice("invite", "lobby", bobId, "--json")).stdout,
    );
    expect(result?.added.map((device) => device.deviceId)).toEqual([bobDevice]);
  });

  it("bob sees the invite in rooms and joins by room ID", async () => {
    const invited = jsonLines<{ roomId: string; membership: string }>((await bob("rooms", "--json")).stdout);
    expect(invited).toContainEqual(expect.objectContaining({ roomId, membership: "invited" }));
    const joined = await bob("join", roomId);
    expect(joined.stdout).toContain(`joined ${roomId} "lobby"`);
  });

  it("both send, and messages --json shows both messages decrypted on both sides", async () => {
    await alice("send", "lobby", "hello bob");
    await bob("send", "lobby", "hello", "alice");
    for (const who of [alice, bob]) {
      const bodies = jsonLines<{ kind: string; sender: { userId: string }; content: { body: string } }>(
        (await who("messages", "lobby", "--json")).stdout,
      ).map((message) => [message.kind, message.sender.userId, message.content.body]);
      expect(bodies).toEqual([
        ["message", aliceId, "hello bob"],
        ["message", bobId, "hello alice"],
      ]);
    }
  });

  it("messages prints [HH:MM] user (DEVICE): text", async () => {
    const lines = (await alice("messages", "lobby")).stdout.trim().split("\n");
    expect(lines.at(-1)).toMatch(
      new RegExp(`^\\[\\d\\d:\\d\\d\\] ${bobId} \\(${bobDevice}\\): hello alice$`),
    );
  });

  it("members lists both users from the MLS group", async () => {
    const members = jsonLines<{ userId: string }>((await alice("members", "lobby", "--json")).stdout);
    expect(members.map((member) => member.userId).sort()).toEqual([aliceId, bobId].sort());
  });

  it("set-topic and set-name reach the other member", async () => {
    await alice("set-topic", "lobby", "a", "new", "topic");
    await alice("set-name", "lobby", "hall");
    const rooms = jsonLines<{ roomId: string; name?: string; topic?: string }>(
      (await bob("rooms", "--json")).stdout,
    );
    expect(rooms).toContainEqual(expect.objectContaining({ roomId, name: "hall", topic: "a new topic" }));
  });

  it("an unknown room name exits 1 and the profile stays usable", async () => {
    const result = await runCli(["--profile", profile("alice"), "send", "lobby", "hi"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no room named "lobby"');
    expect((await alice("whoami")).stdout).toContain(aliceId);
  });

  it("messages --follow prints a message sent while it runs, holds the profile, and stops on SIGINT", async () => {
    const follower = spawnCli(["--profile", profile("bob"), "messages", "hall", "--follow", "--json"]);
    let output = "";
    follower.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once("exit", (code) => resolve(code)));
    try {
      await waitFor("the history", () => (output.includes("hello alice") ? true : undefined));
      const busy = await runCli(["--profile", profile("bob"), "rooms"]);
      expect(busy.code).toBe(1);
      expect(busy.stderr).toContain("in use by another myelin process");
      await alice("send", "hall", "live one");
      await waitFor("the live message", () => (output.includes("live one") ? true : undefined));
    } finally {
      follower.kill("SIGINT");
    }
    expect(await exited).toBe(0);
    expect((await bob("whoami")).stdout).toContain(bobId);
  });

  it("remove takes bob out of the MLS group: alice's members drop him and bob can no longer send", async () => {
    await alice("remove", "hall", "bob");
    const members = jsonLines<{ userId: string }>((await alice("members", "hall", "--json")).stdout);
    expect(members.map((member) => member.userId)).toEqual([aliceId]);
    const refused = await runCli(["--profile", profile("bob"), "send", roomId, "still here?"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("not in the MLS group");
  });

  it("leave: a room one left is listed as left", async () => {
    const created = await alice("create-room", "--name", "scratch", "--json");
    const scratch = jsonLines<{ roomId: string }>(created.stdout)[0]?.roomId;
    await alice("leave", "scratch");
    const rooms = jsonLines<{ roomId: string; membership: string }>((await alice("rooms", "--json")).stdout);
    expect(rooms.find((room) => room.roomId === scratch)?.membership).toBe("left");
  });

  it("login with a wrong password exits 1 with the server's refusal", async () => {
    const result = await runCli([
      "--profile",
      profile("alice-wrong"),
      "login",
      "--server",
      server.url,
      "--user",
      "alice",
      "--password",
      "not it",
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("M_FORBIDDEN");
  });

  it("a server that does not answer is reported as unreachable at its URL", async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const result = await runCli([
      "--profile",
      profile("lost"),
      "login",
      "--server",
      nowhere,
      "--user",
      "alice",
      "--password",
      PASSWORD,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`server unreachable at ${nowhere}`);
  });

  it("login (password piped in) makes a second device that devices lists and approve-device verifies", async () => {
    // The password comes from a pipe here: no flag, no environment variable, no terminal.
    const second = await runCli(
      ["--profile", profile("alice-laptop"), "login", "--server", server.url, "--user", aliceId, "--json"],
      { input: `${PASSWORD}\n` },
    );
    expect(second.code, second.stderr).toBe(0);
    const laptop = jsonLines<{ deviceId: string }>(second.stdout)[0]?.deviceId ?? "";
    const before = jsonLines<{ deviceId: string; current: boolean }>(
      (await alice("devices", "--json")).stdout,
    );
    expect(before).toContainEqual(expect.objectContaining({ deviceId: laptop, current: false }));
    await alice("approve-device", laptop);
    const after = jsonLines<{ deviceId: string; verification: string }>(
      (await alice("devices", "--json")).stdout,
    );
    expect(after.find((device) => device.deviceId === laptop)?.verification).not.toBe("unverified");
  });
});
