// The SDK runs in browsers too: outside its Node-only files (named below), nothing under
// src/client may import a Node built-in, a package not known to run in browsers, or a Node-only
// file. Apps on Node pass those files' exports in (the store is injected).
import {
  NODE_BUILTINS,
  PORTABLE_PACKAGES,
  packageName,
  resolveSpecifier,
  type ImportGraph,
} from "../helpers/imports.js";

/** The only client files that may use Node: the SQLite store (better-sqlite3, Buffer). */
export const NODE_ONLY_CLIENT_FILES: readonly string[] = ["src/client/store/sqliteStore.ts"];

/** Packages the SDK may use outside its Node-only files: the protocol layer's, and the AEADs. */
export const BROWSER_PACKAGES: readonly string[] = [...PORTABLE_PACKAGES, "@noble/ciphers"];

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

/** The driver: the one client file that may read the wall clock (the others get `now`). */
export const CLIENT_DRIVER_FILE = "src/client/client.ts";

/**
 * Sources of src/client that keep module-level mutable bindings (`let`/`var` at the top level)
 * or read the wall clock outside the driver, as "file:line (why)".
 */
export function clientStateViolations(sources: ReadonlyMap<string, string>): string[] {
  const violations: string[] = [];
  for (const [file, source] of sources) {
    if (!file.startsWith("src/client/")) continue;
    source.split("\n").forEach((line, index) => {
      if (/^(export\s+)?(let|var)\s/.test(line)) {
        violations.push(`${file}:${index + 1} (module-level mutable state)`);
      }
      if (file !== CLIENT_DRIVER_FILE && /\bDate\.now\s*\(/.test(line)) {
        violations.push(`${file}:${index + 1} (Date.now() outside the driver)`);
      }
    });
  }
  return violations;
}
