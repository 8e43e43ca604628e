// Reads the import graph of src/ for the layering rules.
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

const IMPORT =
  /(?:^|\s)(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** File path (relative to the root, with .ts) → import specifiers as written. */
export type ImportGraph = Map<string, string[]>;

/** The specifiers a source file imports or re-exports from, type-only ones included. */
export function importSpecifiers(source: string): string[] {
  return [...source.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? m[3] ?? "");
}

export function readImportGraph(root: string, folder = "src"): ImportGraph {
  const graph: ImportGraph = new Map();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) {
        graph.set(relative(root, path), importSpecifiers(readFileSync(path, "utf8")));
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

export const NODE_BUILTINS: ReadonlySet<string> = new Set(builtinModules);
/** Packages the protocol layer may use: they run in Node and in browsers. */
export const PORTABLE_PACKAGES: readonly string[] = [
  "ts-mls",
  "cbor2",
  "@scure/base",
  "@noble/hashes",
  "@noble/curves",
];

export function packageName(specifier: string): string {
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

/**
 * The unit of src/server a file belongs to in the folder-level checks: each immediate subfolder
 * ("rooms/", "services/"), and each top-level file on its own ("context.ts"). Top-level files are
 * not one "root" unit: the composition root (server.ts, components.ts) imports every folder and
 * every folder imports the shared kernel (context.ts, errors.ts, json.ts), so one root unit would
 * make every folder part of one cycle and hide the real ones. Undefined outside src/server.
 */
export function serverUnitOf(file: string): string | undefined {
  const parts = file.split("/");
  if (parts[0] !== "src" || parts[1] !== "server" || parts.length < 3) return undefined;
  return parts.length > 3 ? `${parts[2]}/` : parts[2];
}

/** Unit → unit it imports → the file imports that make that edge (type-only ones included). */
export type UnitGraph = Map<string, Map<string, string[]>>;

export function serverUnitGraph(graph: ImportGraph): UnitGraph {
  const units: UnitGraph = new Map();
  for (const [file, specifiers] of graph) {
    const from = serverUnitOf(file);
    if (from === undefined) continue;
    const edges = units.get(from) ?? new Map<string, string[]>();
    units.set(from, edges);
    for (const specifier of specifiers) {
      const target = resolveSpecifier(file, specifier);
      const to = target === undefined ? undefined : serverUnitOf(target);
      if (to === undefined || to === from) continue;
      edges.set(to, [...(edges.get(to) ?? []), `${file} -> ${target}`]);
    }
  }
  return units;
}

/** The strongly connected groups of more than one unit (Tarjan), each sorted, sorted by first unit. */
function cyclicGroups(units: UnitGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (unit: string): void => {
    index.set(unit, index.size);
    low.set(unit, index.get(unit) as number);
    stack.push(unit);
    onStack.add(unit);
    for (const next of units.get(unit)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(unit, Math.min(low.get(unit) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(unit, Math.min(low.get(unit) as number, index.get(next) as number));
      }
    }
    if (low.get(unit) !== index.get(unit)) return;
    const group: string[] = [];
    for (let member = stack.pop(); member !== undefined; member = stack.pop()) {
      onStack.delete(member);
      group.push(member);
      if (member === unit) break;
    }
    if (group.length > 1) groups.push(group.sort());
  };
  for (const unit of [...units.keys()].sort()) if (!index.has(unit)) visit(unit);
  return groups.sort((a, b) => (a[0] ?? "").localeCompare(b[0] ?? ""));
}

/**
 * Every import cycle between units of src/server: for each group of units that import each other
 * (directly or round about), one line per import edge inside the group with the file imports
 * behind it, e.g. "[federation/ services/] services/ -> federation/: src/server/services/a.ts ->
 * src/server/federation/b.ts". Breaking every edge of one line breaks that part of the cycle.
 */
export function serverFolderCycles(graph: ImportGraph): string[] {
  const units = serverUnitGraph(graph);
  return cyclicGroups(units).flatMap((group) =>
    group.flatMap((from) =>
      group.flatMap((to) => {
        const imports = units.get(from)?.get(to);
        return imports ? [`[${group.join(" ")}] ${from} -> ${to}: ${imports.join(", ")}`] : [];
      }),
    ),
  );
}

/** Who may import the HTTP layer (src/server/http/): itself, the client API routes, the federation
 * transport (an HTTP edge too) and the composition root that builds the HTTP app. */
// The federation folder is an edge as a whole: transport, route adapters, outbound sender.
const HTTP_EDGE = ["src/server/http/", "src/server/api/", "src/server/federation/"];
const COMPOSITION_ROOT = ["src/server/server.ts"];

/** Every import of src/server/http/ from outside the HTTP edge, as "file -> target". */
export function httpImportViolations(graph: ImportGraph): string[] {
  const violations: string[] = [];
  for (const [file, specifiers] of graph) {
    if (HTTP_EDGE.some((edge) => file.startsWith(edge)) || COMPOSITION_ROOT.includes(file)) continue;
    for (const specifier of specifiers) {
      const target = resolveSpecifier(file, specifier);
      if (target?.startsWith("src/server/http/")) violations.push(`${file} -> ${target}`);
    }
  }
  return violations;
}

/** Imports by files under `folder` of the folders (or packages) in `forbidden`, as "file -> specifier". */
export function importsOf(graph: ImportGraph, folder: string, forbidden: readonly string[]): string[] {
  const found: string[] = [];
  for (const [file, specifiers] of graph) {
    if (!file.startsWith(folder)) continue;
    for (const specifier of specifiers) {
      const target = resolveSpecifier(file, specifier) ?? specifier;
      if (forbidden.some((f) => target === f || target.startsWith(f.endsWith("/") ? f : `${f}/`)))
        found.push(`${file} -> ${specifier}`);
    }
  }
  return found;
}
