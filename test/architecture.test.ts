// The layering of the folders: src/protocol is pure and runtime-neutral; src/client runs in
// browsers outside its Node-only store; server and client never import each other; there are no
// import cycles.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import {
  clientPortabilityViolations,
  clientStateViolations,
  NODE_ONLY_CLIENT_FILES,
} from "./client/portability.js";
import { findCycle, layeringViolations, readImportGraph, type ImportGraph } from "./helpers/imports.js";

describe("layering of src/", () => {
  const graph = readImportGraph(".");

  it("finds the protocol layer's files", () => {
    expect([...graph.keys()].some((file) => file.startsWith("src/protocol/"))).toBe(true);
  });
  it("keeps src/protocol free of Node built-ins, unknown packages and upper layers, and server apart from client", () => {
    expect(layeringViolations(graph)).toEqual([]);
  });
  it("keeps src/client free of Node built-ins and Node-only packages outside its Node-only files", () => {
    expect(clientPortabilityViolations(graph)).toEqual([]);
  });
  it("still finds the client's Node-only files (the exemption names real files)", () => {
    for (const file of NODE_ONLY_CLIENT_FILES) expect(graph.has(file)).toBe(true);
  });
  it("keeps no module-level mutable state in src/client, and reads the clock only in its driver", () => {
    const sources = new Map([...graph.keys()].map((file) => [file, readFileSync(file, "utf8")]));
    expect(clientStateViolations(sources)).toEqual([]);
  });
  it("has no import cycles", () => {
    expect(findCycle(graph)).toBeUndefined();
  });
});

describe("the layering checks themselves", () => {
  it("flag a node: import in the protocol layer", () => {
    const graph: ImportGraph = new Map([["src/protocol/x.ts", ["node:fs"]]]);
    expect(layeringViolations(graph)).toHaveLength(1);
  });
  it("flag a bare Node built-in in the protocol layer", () => {
    const graph: ImportGraph = new Map([["src/protocol/x.ts", ["crypto"]]]);
    expect(layeringViolations(graph)).toHaveLength(1);
  });
  it("flag the protocol layer importing the server", () => {
    const graph: ImportGraph = new Map([["src/protocol/x.ts", ["../server/y.js"]]]);
    expect(layeringViolations(graph)).toHaveLength(1);
  });
  it("flag the client importing the server", () => {
    const graph: ImportGraph = new Map([["src/client/x.ts", ["../server/y.js"]]]);
    expect(layeringViolations(graph)).toHaveLength(1);
  });
  it("flag a node: import in the client", () => {
    const graph: ImportGraph = new Map([["src/client/rooms/x.ts", ["node:crypto"]]]);
    expect(clientPortabilityViolations(graph)).toHaveLength(1);
  });
  it("flag a Node-only package in the client", () => {
    const graph: ImportGraph = new Map([["src/client/x.ts", ["better-sqlite3"]]]);
    expect(clientPortabilityViolations(graph)).toHaveLength(1);
  });
  it("flag a client file importing the Node-only store", () => {
    const graph: ImportGraph = new Map([["src/client/client.ts", ["./store/sqliteStore.js"]]]);
    expect(clientPortabilityViolations(graph)).toHaveLength(1);
  });
  it("let the Node-only store use Node", () => {
    const graph: ImportGraph = new Map([["src/client/store/sqliteStore.ts", ["better-sqlite3", "node:fs"]]]);
    expect(clientPortabilityViolations(graph)).toEqual([]);
  });
  it("flag a module-level let in the client", () => {
    expect(clientStateViolations(new Map([["src/client/x.ts", "let cache = 1;"]]))).toHaveLength(1);
  });
  it("flag Date.now() in the client outside its driver", () => {
    const sources = new Map([
      ["src/client/rooms/x.ts", "const t = Date.now();"],
      ["src/client/client.ts", "const t = Date.now();"],
    ]);
    expect(clientStateViolations(sources)).toEqual([
      "src/client/rooms/x.ts:1 (Date.now() outside the driver)",
    ]);
  });
  it("find a cycle of two files", () => {
    const graph: ImportGraph = new Map([
      ["src/protocol/a.ts", ["./b.js"]],
      ["src/protocol/b.ts", ["./a.js"]],
    ]);
    expect(findCycle(graph)).toEqual(["src/protocol/a.ts", "src/protocol/b.ts", "src/protocol/a.ts"]);
  });
});
