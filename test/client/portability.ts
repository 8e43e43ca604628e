// The SDK runs in browsers too: outside its Node-only files (named below), nothing under
// src/client may import a Node built-in, a package not known to run in browsers, or a Node-only
// file. Apps on Node pass those files' exports in (the store is injected).
import { builtinModules } from "node:module";
import { resolveSpecifier, type ImportGraph } from "../helpers/imports.js";

/** The only client files that may use Node: the SQLite store (better-sqlite3, Buffer). */
export const NODE_ONLY_CLIENT_FILES: readonly string[] = ["src/client/store/sqliteStore.ts"];

/** Packages the SDK may use outside its Node-only files: they run in Node and in browsers. */
export const BROWSER_PACKAGES: readonly string[] = [
  "ts-mls",
  "cbor2",
  "@scure/base",
  "@noble/hashes",
  "@noble/curves",
  "@noble/ciphers",
];

const NODE_BUILTINS = new Set(builtinModules);

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? "");
}

/** Every import that keeps the SDK from running in a browser, as "file -> specifier (why)". */
export function clientPortabilityViolations(graph: ImportGraph): string[] {
  const violations: string[] = [];
  for (const [file, specifiers] of graph) {
    if (!file.startsWith("src/client/") || NODE_ONLY_CLIENT_FILES.includes(file)) continue;
    for (const specifier of specifiers) {
      const target = resolveSpecifier(file, specifier);
      if (target !== undefined) {
        if (NODE_ONLY_CLIENT_FILES.includes(target)) {
          violations.push(`${file} -> ${specifier} (a Node-only client file)`);
        }
      } else if (specifier.startsWith("node:") || NODE_BUILTINS.has(packageName(specifier))) {
        violations.push(`${file} -> ${specifier} (Node built-in in the SDK)`);
      } else if (!BROWSER_PACKAGES.includes(packageName(specifier))) {
        violations.push(`${file} -> ${specifier} (package not known to run in browsers)`);
      }
    }
  }
  return violations;
}
