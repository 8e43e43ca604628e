import { describe, it, expect } from "vitest";
import { isValidServerName, parseServerName } from "../../src/protocol/serverName.js";

const label63 = "a".repeat(63);
// 255 characters: four 63-character labels and three dots.
const name255 = [label63, label63, label63, label63].join(".");

const VALID: ReadonlyArray<readonly [string, { host: string; port?: number }]> = [
  // The Matrix spec's own examples.
  ["matrix.org", { host: "matrix.org" }],
  ["matrix.org:8888", { host: "matrix.org", port: 8888 }],
  ["1.2.3.4", { host: "1.2.3.4" }],
  ["1.2.3.4:1234", { host: "1.2.3.4", port: 1234 }],
  ["[1234:5678::abcd]", { host: "[1234:5678::abcd]" }],
  ["[1234:5678::abcd]:5678", { host: "[1234:5678::abcd]", port: 5678 }],
  // Edges.
  ["[::1]:8448", { host: "[::1]", port: 8448 }],
  ["[::]", { host: "[::]" }],
  ["[1:2:3:4:5:6:7:8]", { host: "[1:2:3:4:5:6:7:8]" }],
  ["[1:2:3:4:5:6:7::]", { host: "[1:2:3:4:5:6:7::]" }],
  ["[::FFFF:1.2.3.4]", { host: "[::FFFF:1.2.3.4]" }],
  ["[1:2:3:4:5:6:1.2.3.4]", { host: "[1:2:3:4:5:6:1.2.3.4]" }],
  ["localhost", { host: "localhost" }],
  ["MATRIX.org", { host: "MATRIX.org" }],
  ["my-host.example", { host: "my-host.example" }],
  ["255.255.255.255", { host: "255.255.255.255" }],
  ["0.0.0.0", { host: "0.0.0.0" }],
  ["1.example", { host: "1.example" }],
  ["example.1a", { host: "example.1a" }],
  ["a.org:1", { host: "a.org", port: 1 }],
  ["a.org:65535", { host: "a.org", port: 65535 }],
  ["a.org:08448", { host: "a.org", port: 8448 }],
  [name255, { host: name255 }],
];

const INVALID: ReadonlyArray<readonly [string, string]> = [
  ["empty", ""],
  ["port 0", "a.org:0"],
  ["port 65536", "a.org:65536"],
  ["a six-digit port", "a.org:000080"],
  ["a signed port", "a.org:+80"],
  ["an empty port", "a.org:"],
  ["two ports", "a.org:80:80"],
  ["a port alone", ":8448"],
  ["an IPv4 octet above 255", "256.1.1.1"],
  ["a four-digit IPv4 octet", "1.2.3.1000"],
  ["three numbers", "1.2.3"],
  ["five numbers", "1.2.3.4.5"],
  ["an all-numeric last label", "example.123"],
  ["a leading dot", ".a.org"],
  ["a trailing dot", "a.org."],
  ["an empty label", "a..org"],
  ["an underscore", "a_b.org"],
  ["a space", "a b.org"],
  ["non-ASCII", "exämple.org"],
  ["256 characters", `${name255}a`],
  ["256 characters with a port", `${name255.slice(0, 251)}:8448`],
  ["a bare IPv6 address", "::1"],
  ["an unclosed bracket", "[::1"],
  ["empty brackets", "[]"],
  ["text after the brackets", "[::1]x"],
  ["two double colons", "[1::2::3]"],
  ["nine IPv6 groups", "[1:2:3:4:5:6:7:8:9]"],
  ["seven IPv6 groups without ::", "[1:2:3:4:5:6:7]"],
  ["eight groups and ::", "[1:2:3:4:5:6:7:8::]"],
  ["a five-digit IPv6 group", "[12345::]"],
  ["a non-hex IPv6 group", "[g::1]"],
  ["a triple colon", "[1:::2]"],
  ["a leading single colon", "[:1::2]"],
  ["an IPv6 zone", "[fe80::1%eth0]"],
  ["an IPv4 tail before ::", "[1.2.3.4::]"],
  ["an IPv4 tail with a bad octet", "[::ffff:1.2.3.256]"],
  ["an IPv4 address in brackets", "[1.2.3.4]"],
  ["a DNS name in brackets", "[example.org]"],
];

describe("server names (Matrix appendix grammar)", () => {
  it.each(VALID)("accepts %s", (name, parsed) => {
    expect(parseServerName(name)).toEqual(parsed);
  });

  it.each(INVALID)("rejects %s", (_why, name) => {
    expect(parseServerName(name)).toBeUndefined();
  });

  it("isValidServerName agrees with parseServerName", () => {
    expect(
      [...VALID.map(([name]) => name), ...INVALID.map(([, name]) => name)].map(isValidServerName),
    ).toEqual([...VALID.map(() => true), ...INVALID.map(() => false)]);
  });
});
