// The spec-schema judge itself (test/helpers/specSchema.ts): it must reject what the spec rejects,
// or every test that leans on it proves nothing.
import { describe, expect, it } from "vitest";
import { expectMatchesSpec } from "../helpers/specSchema.js";

describe("expectMatchesSpec", () => {
  it("accepts a body the spec allows", async () => {
    await expect(
      expectMatchesSpec("login.yaml", "/login", "POST", 200, {
        user_id: "@a:b.example",
        access_token: "t",
        device_id: "D",
      }),
    ).resolves.toBeUndefined();
  });
  it("rejects a body without a required field, naming it", async () => {
    await expect(
      expectMatchesSpec("login.yaml", "/login", "post", 200, { user_id: "@a:b.example", access_token: "t" }),
    ).rejects.toThrow(/device_id/);
  });
  it("follows $refs into the definitions folder", async () => {
    await expect(
      expectMatchesSpec("device_management.yaml", "/devices", "get", 200, {
        devices: [{ display_name: "no id" }],
      }),
    ).rejects.toThrow(/devices\/0 must have required property 'device_id'/);
  });
  for (const [format, file, method, path, body] of [
    ["mx-user-id", "whoami.yaml", "get", "/account/whoami", { user_id: "@no-server" }],
    ["mx-mxc-uri", "profile.yaml", "get", "/profile/{userId}", { avatar_url: "https://example.org/a.png" }],
    [
      "mx-server-name",
      "registration.yaml",
      "post",
      "/register",
      { user_id: "@a:b.example", home_server: "bad_name!" },
    ],
  ] as const) {
    it(`checks the spec's ${format} format`, async () => {
      await expect(expectMatchesSpec(file, path, method, 200, body)).rejects.toThrow(new RegExp(format));
    });
  }
  it("refuses to judge an operation the file does not define", async () => {
    await expect(expectMatchesSpec("login.yaml", "/nowhere", "get", 200, {})).rejects.toThrow(
      /defines no GET \/nowhere/,
    );
  });
});
