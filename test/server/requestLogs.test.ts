// Defect 9 and metadata at rest: request logs hold no access token however its parameter name is
// encoded, and at info level no room or user ID (paths are logged by route pattern).
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser } from "../helpers/users.js";

const secret = () => `SECRET${randomBytes(12).toString("hex")}`;

describe("request logs at debug level", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ env: { MYELIN_LOG_LEVEL: "debug" } });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("never contain an access token passed in the query, however its name is encoded", async () => {
    const user = await registerUser(server.url, "encoded");
    const secrets = Array.from({ length: 8 }, secret);
    const queries = [
      `%61ccess_token=${secrets[0]}`,
      `access%5Ftoken=${secrets[1]}`,
      `access_token=${secrets[2]}`,
      `since=1&%61ccess%5ftoken=${secrets[3]}`,
      `%61ccess_token=${secrets[4]}&access_token=${secrets[5]}`,
      `%zz=1&%61ccess_token=${secrets[6]}`,
      `%ACCESS_TOKEN%=${secrets[7]}`,
    ];
    for (const query of queries) await fetch(`${server.url}/_matrix/client/v3/account/whoami?${query}`);
    // A real token, accepted under its encoded name: still not logged.
    const reply = await fetch(`${server.url}/_matrix/client/v3/account/whoami?%61ccess_token=${user.token}`);
    expect(reply.status).toBe(200);
    const logs = server.logs();
    expect(logs).toContain("/_matrix/client/v3/account/whoami?"); // debug logs full URLs
    for (const value of [...secrets, user.token]) expect(logs).not.toContain(value);
  });

  it("never contain a login password", async () => {
    const password = secret();
    await registerUser(server.url, "debuglogin", password);
    await request(server.url, "POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user: "debuglogin" }, password },
    });
    expect(server.logs()).not.toContain(password);
  });
});

describe("request logs at info level", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess({ env: { MYELIN_LOG_LEVEL: "info" } });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("never contain an access token passed in the query under an encoded name", async () => {
    const user = await registerUser(server.url, "infoencoded");
    const value = secret();
    await fetch(`${server.url}/_matrix/client/v3/account/whoami?%61ccess_token=${value}`);
    await fetch(`${server.url}/_matrix/client/v3/account/whoami?access%5Ftoken=${user.token}`);
    expect(server.logs()).not.toContain(value);
    expect(server.logs()).not.toContain(user.token);
  });

  it("name the route pattern, not the room or user IDs of the path", async () => {
    const user = await registerUser(server.url, "pathowner");
    const roomId = `!${randomBytes(9).toString("hex")}:${server.serverName}`;
    const rooms = "/_matrix/client/v3/rooms";
    await request(server.url, "GET", `${rooms}/${encodeURIComponent(roomId)}/state`, { token: user.token });
    await request(server.url, "PUT", `${rooms}/${encodeURIComponent(roomId)}/send/m.room.message/t1`, {
      token: user.token,
      body: { msgtype: "m.text", body: "hi" },
    });
    await request(server.url, "GET", `/_matrix/client/v3/profile/${encodeURIComponent(user.userId)}`);
    const logs = server.logs();
    const localpartOfRoom = roomId.slice(1, roomId.indexOf(":"));
    expect(logs).not.toContain(localpartOfRoom);
    expect(logs).not.toContain("pathowner");
    expect(logs).toContain("/_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId");
  });
});
