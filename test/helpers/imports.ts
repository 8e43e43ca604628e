// Reads the import graph of src/ for the layering rules.
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

const IMPORT =
  /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** File path (relative to the root, with .ts) → import specifiers as written. */
export type ImportGraph = Map<string, string[]>;

export function readImportGraph(root: string, folder = "src"): ImportGraph {
  const graph: ImportGraph = new Map();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) {
        const source = readFileSync(path, "utf8");
        const specifiers = [...source.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
        graph.set(relative(root, path), specifiers);
      }
    }
  };
  walk(join(root, folder));
  return graph;
}

/** A relative specifier resolved to the .ts file it names; bare specifiers stay undefined. */
export function resolveSpecifier(file: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  return relative(".", resolve(dirname(file), specifier)).replace(/\.js$/, ".ts");
}

export function layerOf(file: string): string {
  return file.split("/")[1] ?? "";
}

const NODE_BUILTINS = new Set(builtinModules);
/** Packages the protocol layer may use: they run in Node and in browsers. */
const PORTABLE_PACKAGES = ["ts-mls", "cbor2", "@scure/base", "@noble/hashes", "@noble/curves"];

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? "");
}

/** Every import that breaks the layering, as "file -> specifier (why)". */
export function layeringViolations(graph: ImportGraph): string[] {
  const violations: string[] = [];
  for (const [file, specifiers] of graph) {
    const layer = layerOf(file);
    for (const specifier of specifiers) {
      const target = resolveSpecifier(file, specifier);
      const targetLayer = target === undefined ? undefined : layerOf(target);
      if (layer === "protocol") {
        if (specifier.startsWith("node:") || NODE_BUILTINS.has(packageName(specifier))) {
          violations.push(`${file} -> ${specifier} (Node built-in in the protocol layer)`);
        } else if (target === undefined && !PORTABLE_PACKAGES.includes(packageName(specifier))) {
          violations.push(`${file} -> ${specifier} (package not known to run in browsers)`);
        } else if (targetLayer !== undefined && targetLayer !== "protocol") {
          violations.push(`${file} -> ${specifier} (protocol imports ${targetLayer})`);
        }
      }
      if (
        (layer === "server" && targetLayer === "client") ||
        (layer === "client" && targetLayer === "server")
      ) {
        violations.push(`${file} -> ${specifier} (server and client never import each other)`);
      }
    }
  }
  return violations;
}

/** One import cycle among relative imports, or undefined. */
export function findCycle(graph: ImportGraph): string[] | undefined {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (file: string): string[] | undefined => {
    if (state.get(file) === "done") return undefined;
    if (state.get(file) === "visiting") return [...stack.slice(stack.indexOf(file)), file];
    state.set(file, "visiting");
    stack.push(file);
    for (const specifier of graph.get(file) ?? []) {
      const target = resolveSpecifier(file, specifier);
      if (target !== undefined && graph.has(target)) {
        const cycle = visit(target);
        if (cycle) return cycle;
      }
    }
    stack.pop();
    state.set(file, "done");
    return undefined;
  };
  for (const file of graph.keys()) {
    const cycle = visit(file);
    if (cycle) return cycle;
  }
  return undefined;
}
