// Per-user data of the accounts component: profiles, sync filters and push rules; on both
// storage backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { expectMatchesSpec } from "../helpers/specSchema.js";
import { registerUser, type TestUser } from "../helpers/users.js";

describe.each(BACKENDS)("user data on %s", (backend) => {
  let server: ServerProcess;
  let alice: TestUser;
  let bob: TestUser;
  const call = (
    method: string,
    path: string,
    options: { token?: string; body?: unknown; rawBody?: string } = {},
  ) => request(server.url, method, `/_matrix/client/v3${path}`, options);
  const id = (userId: string) => encodeURIComponent(userId);

  beforeAll(async () => {
    server = await startServerProcess({ backend });
    alice = await registerUser(server.url, "alice");
    bob = await registerUser(server.url, "bob");
  });
  afterAll(async () => {
    await server.destroy();
  });

  describe("profiles", () => {
    it("starts with the localpart as display name", async () => {
      const reply = await call("GET", `/profile/${id(bob.userId)}`);
      expect(reply.status).toBe(200);
      await expectMatchesSpec("profile.yaml", "/profile/{userId}", "get", 200, reply.body);
      expect(reply.body).toEqual({ displayname: "bob" });
    });
    it("sets and reads back the display name", async () => {
      const put = await call("PUT", `/profile/${id(alice.userId)}/displayname`, {
        token: alice.token,
        body: { displayname: "Alice Liddell" },
      });
      expect(put.status).toBe(200);
      await expectMatchesSpec("profile.yaml", "/profile/{userId}/{keyName}", "put", 200, put.body);
      const reply = await call("GET", `/profile/${id(alice.userId)}/displayname`);
      await expectMatchesSpec("profile.yaml", "/profile/{userId}/{keyName}", "get", 200, reply.body);
      expect(reply.body).toEqual({ displayname: "Alice Liddell" });
    });
    it("sets and reads back an mxc avatar URL", async () => {
      const url = `mxc://${server.serverName}/abcDEF_123`;
      await call("PUT", `/profile/${id(alice.userId)}/avatar_url`, {
        token: alice.token,
        body: { avatar_url: url },
      });
      const field = await call("GET", `/profile/${id(alice.userId)}/avatar_url`);
      expect(field.body).toEqual({ avatar_url: url });
      const profile = await call("GET", `/profile/${id(alice.userId)}`);
      await expectMatchesSpec("profile.yaml", "/profile/{userId}", "get", 200, profile.body);
      expect(profile.body.avatar_url).toBe(url);
    });
    it("refuses an avatar URL that is not an mxc URI with M_INVALID_PARAM", async () => {
      const user = await registerUser(server.url, "avatarless");
      const reply = await call("PUT", `/profile/${id(user.userId)}/avatar_url`, {
        token: user.token,
        body: { avatar_url: "https://example.org/cat.png" },
      });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      expect((await call("GET", `/profile/${id(user.userId)}`)).body.avatar_url).toBeUndefined();
    });
    it("clears the display name with an empty string, after which it is 404", async () => {
      const user = await registerUser(server.url, "nameless");
      await call("PUT", `/profile/${id(user.userId)}/displayname`, {
        token: user.token,
        body: { displayname: "" },
      });
      const reply = await call("GET", `/profile/${id(user.userId)}/displayname`);
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
    });
    it("refuses to change another user's profile with 403 M_FORBIDDEN", async () => {
      const reply = await call("PUT", `/profile/${id(bob.userId)}/displayname`, {
        token: alice.token,
        body: { displayname: "Bobby Tables" },
      });
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
      expect((await call("GET", `/profile/${id(bob.userId)}/displayname`)).body).toEqual({
        displayname: "bob",
      });
    });
    it("answers 404 M_NOT_FOUND for an unknown user", async () => {
      for (const path of ["", "/displayname", "/avatar_url"]) {
        const reply = await call("GET", `/profile/${id(`@nobody:${server.serverName}`)}${path}`);
        expect([path, reply.status, reply.body.errcode]).toEqual([path, 404, "M_NOT_FOUND"]);
      }
    });
    it("requires the field in the body with M_MISSING_PARAM", async () => {
      const reply = await call("PUT", `/profile/${id(alice.userId)}/displayname`, {
        token: alice.token,
        body: {},
      });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_MISSING_PARAM"]);
    });
    it("refuses a display name that is not a string with M_BAD_JSON", async () => {
      const reply = await call("PUT", `/profile/${id(alice.userId)}/displayname`, {
        token: alice.token,
        body: { displayname: 42 },
      });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("needs a token to change a profile", async () => {
      const reply = await call("PUT", `/profile/${id(alice.userId)}/displayname`, {
        body: { displayname: "x" },
      });
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    });
  });

  describe("filters", () => {
    const filter = {
      room: { timeline: { limit: 10, types: ["m.room.encrypted"] }, state: { lazy_load_members: true } },
      presence: { not_types: ["*"] },
      event_format: "client",
    };
    it("stores a filter and returns it by ID", async () => {
      const post = await call("POST", `/user/${id(alice.userId)}/filter`, {
        token: alice.token,
        body: filter,
      });
      expect(post.status).toBe(200);
      await expectMatchesSpec("filter.yaml", "/user/{userId}/filter", "post", 200, post.body);
      const reply = await call("GET", `/user/${id(alice.userId)}/filter/${post.body.filter_id as string}`, {
        token: alice.token,
      });
      await expectMatchesSpec("filter.yaml", "/user/{userId}/filter/{filterId}", "get", 200, reply.body);
      expect(reply.body).toEqual(filter);
    });
    it("returns the same ID for the same filter and a new one for another", async () => {
      const upload = async (body: unknown) =>
        (await call("POST", `/user/${id(bob.userId)}/filter`, { token: bob.token, body })).body.filter_id;
      const first = await upload({ room: { timeline: { limit: 1 } } });
      expect(await upload({ room: { timeline: { limit: 1 } } })).toBe(first);
      expect(await upload({ room: { timeline: { limit: 2 } } })).not.toBe(first);
    });
    it("keeps users' filters apart", async () => {
      const post = await call("POST", `/user/${id(alice.userId)}/filter`, {
        token: alice.token,
        body: { account_data: {} },
      });
      const reply = await call("GET", `/user/${id(bob.userId)}/filter/${post.body.filter_id as string}`, {
        token: bob.token,
      });
      expect(reply.body).not.toEqual({ account_data: {} });
    });
    it("answers 404 M_NOT_FOUND for an unknown filter ID", async () => {
      for (const filterId of ["999999", "abc", "{}"]) {
        const reply = await call("GET", `/user/${id(alice.userId)}/filter/${encodeURIComponent(filterId)}`, {
          token: alice.token,
        });
        expect([filterId, reply.status, reply.body.errcode]).toEqual([filterId, 404, "M_NOT_FOUND"]);
      }
    });
    it("refuses to store a filter for another user with 403 M_FORBIDDEN", async () => {
      const reply = await call("POST", `/user/${id(bob.userId)}/filter`, {
        token: alice.token,
        body: filter,
      });
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    it("refuses to show another user's filter with 403 M_FORBIDDEN", async () => {
      const reply = await call("GET", `/user/${id(bob.userId)}/filter/0`, { token: alice.token });
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    for (const [what, body] of [
      ["a list", [filter]],
      ["a string", "filter"],
      ["a timeline limit that is not an integer", { room: { timeline: { limit: "ten" } } }],
      ["a negative limit", { room: { timeline: { limit: -1 } } }],
      ["types that are not strings", { room: { state: { types: [1] } } }],
      ["an unknown event_format", { event_format: "xml" }],
      ["a room filter that is not an object", { room: [] }],
      ["include_leave that is not a boolean", { room: { include_leave: "yes" } }],
    ] as const) {
      it(`refuses ${what} with M_BAD_JSON`, async () => {
        const reply = await call("POST", `/user/${id(alice.userId)}/filter`, { token: alice.token, body });
        expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
      });
    }
    it("refuses an upload without a body with M_NOT_JSON", async () => {
      const reply = await call("POST", `/user/${id(alice.userId)}/filter`, { token: alice.token });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_NOT_JSON"]);
    });
  });

  describe("push rules", () => {
    it("serves the default global ruleset at /pushrules/", async () => {
      const reply = await call("GET", "/pushrules/", { token: alice.token });
      expect(reply.status).toBe(200);
      await expectMatchesSpec("pushrules.yaml", "/pushrules/", "get", 200, reply.body);
      const global = reply.body.global as Record<string, Array<{ rule_id: string; enabled: boolean }>>;
      expect(global.override?.[0]).toMatchObject({ rule_id: ".m.rule.master", enabled: false });
      expect(global.underride?.map((rule) => rule.rule_id)).toContain(".m.rule.encrypted");
    });
    it("serves the same ruleset without the trailing slash", async () => {
      const slash = await call("GET", "/pushrules/", { token: alice.token });
      const bare = await call("GET", "/pushrules", { token: alice.token });
      expect(bare.body).toEqual(slash.body);
    });
    it("names the user in .m.rule.invite_for_me", async () => {
      const reply = await call("GET", "/pushrules/global/override/.m.rule.invite_for_me", {
        token: bob.token,
      });
      await expectMatchesSpec("pushrules.yaml", "/pushrules/global/{kind}/{ruleId}", "get", 200, reply.body);
      expect(reply.body.conditions).toContainEqual({
        kind: "event_match",
        key: "state_key",
        pattern: bob.userId,
      });
    });
    it("serves the global ruleset at /pushrules/global/", async () => {
      const reply = await call("GET", "/pushrules/global/", { token: alice.token });
      await expectMatchesSpec("pushrules.yaml", "/pushrules/global/", "get", 200, reply.body);
      expect(Object.keys(reply.body).sort()).toEqual(["content", "override", "room", "sender", "underride"]);
    });
    it("serves a rule's enabled flag and actions", async () => {
      const enabled = await call("GET", "/pushrules/global/override/.m.rule.master/enabled", {
        token: alice.token,
      });
      await expectMatchesSpec(
        "pushrules.yaml",
        "/pushrules/global/{kind}/{ruleId}/enabled",
        "get",
        200,
        enabled.body,
      );
      expect(enabled.body).toEqual({ enabled: false });
      const actions = await call("GET", "/pushrules/global/underride/.m.rule.message/actions", {
        token: alice.token,
      });
      await expectMatchesSpec(
        "pushrules.yaml",
        "/pushrules/global/{kind}/{ruleId}/actions",
        "get",
        200,
        actions.body,
      );
      expect(actions.body).toEqual({ actions: ["notify"] });
    });
    it("answers 404 M_NOT_FOUND for an unknown rule or kind", async () => {
      for (const path of [
        "/pushrules/global/override/nocake",
        "/pushrules/global/elsewhere/.m.rule.master",
      ]) {
        const reply = await call("GET", path, { token: alice.token });
        expect([path, reply.status, reply.body.errcode]).toEqual([path, 404, "M_NOT_FOUND"]);
      }
    });
    it("does not offer changing rules (404 M_UNRECOGNIZED)", async () => {
      const reply = await call("PUT", "/pushrules/global/content/nocake", {
        token: alice.token,
        body: { pattern: "cake*lie", actions: ["notify"] },
      });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_UNRECOGNIZED"]);
    });
    it("needs a token", async () => {
      const reply = await call("GET", "/pushrules/");
      expect([reply.status, reply.body.errcode]).toEqual([401, "M_MISSING_TOKEN"]);
    });
  });
});
