// The layering of the folders: src/protocol is pure and runtime-neutral; src/client runs in
// browsers outside its Node-only store; server and client never import each other; there are no
// import cycles. Inside src/server (issue 10): no import cycle between its folders, only the HTTP
// edge imports src/server/http, and the rooms domain imports none of its edges (client API,
// federation) nor any other domain.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import {
  clientPortabilityViolations,
  clientStateViolations,
  NODE_ONLY_CLIENT_FILES,
} from "./client/portability.js";
import {
  findCycle,
  httpImportViolations,
  importSpecifiers,
  importsOf,
  layeringViolations,
  readImportGraph,
  serverFolderCycles,
  serverUnitOf,
  type ImportGraph,
} from "./helpers/imports.js";

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

describe("layering of src/server", () => {
  const graph = readImportGraph(".");

  it("finds the rooms domain's folder", () => {
    expect([...graph.keys()].some((file) => serverUnitOf(file) === "rooms/")).toBe(true);
  });
  it("has no import cycle between its folders (each subfolder a unit, each top-level file its own)", () => {
    expect(serverFolderCycles(graph)).toEqual([]);
  });
  it("lets only the HTTP edges (http, api, federation, server.ts) import src/server/http", () => {
    expect(httpImportViolations(graph)).toEqual([]);
  });
  it("keeps the rooms domain free of its edges, of other domains and of HTTP", () => {
    const edges = ["src/server/api/", "src/server/federation/", "src/server/http/", "src/server/services/"];
    expect(importsOf(graph, "src/server/rooms/", [...edges, "src/server/keys/", "fastify"])).toEqual([]);
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
  it("find a cycle between two server folders whose files form no cycle", () => {
    const graph: ImportGraph = new Map([
      ["src/server/rooms/a.ts", ["../federation/b.js"]],
      ["src/server/federation/b.ts", []],
      ["src/server/federation/c.ts", ["../rooms/d.js"]],
      ["src/server/rooms/d.ts", []],
    ]);
    expect(findCycle(graph)).toBeUndefined();
    expect(serverFolderCycles(graph)).toEqual([
      "[federation/ rooms/] federation/ -> rooms/: src/server/federation/c.ts -> src/server/rooms/d.ts",
      "[federation/ rooms/] rooms/ -> federation/: src/server/rooms/a.ts -> src/server/federation/b.ts",
    ]);
  });
  it("count a type-only import as an edge between folders", () => {
    const graph: ImportGraph = new Map([
      ["src/server/rooms/a.ts", ["../services/b.js"]],
      ["src/server/services/b.ts", ["../rooms/a.js"]],
    ]);
    expect(importSpecifiers('import type { B } from "../services/b.js";')).toEqual(["../services/b.js"]);
    expect(serverFolderCycles(graph)).toHaveLength(2);
  });
  it("take each top-level server file as its own unit, so the composition root is no cycle", () => {
    const graph: ImportGraph = new Map([
      ["src/server/server.ts", ["./api/a.js"]],
      ["src/server/api/a.ts", ["../context.js"]],
      ["src/server/context.ts", []],
    ]);
    expect(serverFolderCycles(graph)).toEqual([]);
  });
  it("flag a cycle through a top-level file", () => {
    const graph: ImportGraph = new Map([
      ["src/server/context.ts", ["./services/n.js"]],
      ["src/server/services/n.ts", ["../context.js"]],
    ]);
    expect(serverFolderCycles(graph)).toHaveLength(2);
  });
  it("flag a service importing the HTTP layer", () => {
    const graph: ImportGraph = new Map([["src/server/services/x.ts", ["../http/auth.js"]]]);
    expect(httpImportViolations(graph)).toEqual(["src/server/services/x.ts -> src/server/http/auth.ts"]);
  });
  it("let the client API and the federation transport import the HTTP layer", () => {
    const graph: ImportGraph = new Map([
      ["src/server/api/x.ts", ["../http/auth.js"]],
      ["src/server/federation/transport/y.ts", ["../../http/clientErrors.js"]],
    ]);
    expect(httpImportViolations(graph)).toEqual([]);
  });
  it("flag the rooms domain importing its federation edge or fastify", () => {
    const graph: ImportGraph = new Map([["src/server/rooms/x.ts", ["../federation/types.js", "fastify"]]]);
    expect(importsOf(graph, "src/server/rooms/", ["src/server/federation/", "fastify"])).toHaveLength(2);
  });
});
