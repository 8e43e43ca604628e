// Validates responses against the Matrix specification's own OpenAPI definitions
// (../shared/matrix-spec/data/api), an outside judge of our JSON shapes: YAML read and $refs
// resolved by @apidevtools/json-schema-ref-parser, schemas compiled by Ajv (JSON Schema 2020-12,
// which OpenAPI 3.1 uses) with ajv-formats and the spec's own mx-* formats.
import { AssertionError } from "node:assert";
import { fileURLToPath } from "node:url";
import { readFile } from "node:fs/promises";
import $RefParser, { type FileInfo } from "@apidevtools/json-schema-ref-parser";
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import ajvFormats from "ajv-formats";
import { parse as parseYaml } from "yaml";
import { isValidServerName } from "../../src/protocol/serverName.js";

const SPEC_ROOT = new URL("../../../shared/matrix-spec/", import.meta.url);
const API_ROOT = new URL("data/api/", SPEC_ROOT);

const UNPADDED_BASE64 = /^[A-Za-z0-9+/]*$/;
const MEDIA_ID = /^[A-Za-z0-9_-]+$/;

/** `<sigil><opaque>` with an optional `:<server name>`, as room and event IDs of any version. */
function sigilId(sigil: string, value: string, serverRequired: boolean): boolean {
  if (!value.startsWith(sigil) || Buffer.byteLength(value) > 255) return false;
  const colon = value.indexOf(":");
  const opaque = value.slice(1, colon < 0 ? undefined : colon);
  if (!/^[\x21-\x7e]+$/.test(opaque)) return false;
  if (colon < 0) return !serverRequired;
  return isValidServerName(value.slice(colon + 1));
}

function isMxcUri(value: string): boolean {
  const match = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(value);
  return match !== null && isValidServerName(match[1] ?? "") && MEDIA_ID.test(match[2] ?? "");
}

const ajv = new Ajv2020({ strict: false, allErrors: true });
// ajv-formats is CommonJS: its plugin function is the module and, for ESM, also its `default`.
ajvFormats.default(ajv);
// User IDs: historical localparts may use any printable ASCII but ':' (appendix "User Identifiers").
ajv.addFormat("mx-user-id", (value: string) => sigilId("@", value, true));
ajv.addFormat("mx-room-id", (value: string) => sigilId("!", value, false));
ajv.addFormat("mx-event-id", (value: string) => sigilId("$", value, false));
ajv.addFormat("mx-server-name", (value: string) => isValidServerName(value));
ajv.addFormat("mx-mxc-uri", isMxcUri);
ajv.addFormat("mx-unpadded-base64", (value: string) => UNPADDED_BASE64.test(value) && value.length % 4 !== 1);

type OpenApiDocument = {
  paths?: Record<
    string,
    Record<string, { responses?: Record<string, { content?: Record<string, { schema?: object }> }> }>
  >;
  components?: { schemas?: Record<string, object> };
};

export interface SpecOptions {
  /**
   * Names dropped from every `required` list of the resolved schema, for the protocol's deliberate
   * departures from core Matrix (D22: events carry no `sender`). Nothing else is relaxed.
   */
  readonly withoutRequired?: readonly string[];
}

const documents = new Map<string, Promise<OpenApiDocument>>();
const validators = new Map<string, Promise<ValidateFunction>>();

// The spec's files have flow-style examples that js-yaml (the ref parser's default) rejects.
const yamlParser = {
  canParse: [".yaml", ".yml"],
  parse: (file: FileInfo) => parseYaml(String(file.data)) as object,
};

/** `file` is relative to data/api/client-server/, or to data/api/ when it names a folder. */
function pathOf(file: string): string {
  return fileURLToPath(new URL(file.includes("/") ? file : `client-server/${file}`, API_ROOT));
}

function documentOf(file: string): Promise<OpenApiDocument> {
  let document = documents.get(file);
  if (document === undefined) {
    document = readFile(pathOf(file), "utf8").then((text) => parseYaml(text) as OpenApiDocument);
    documents.set(file, document);
  }
  return document;
}

/** Removes `names` from every `required` list of a dereferenced (possibly cyclic) schema. */
function dropRequired(schema: object, names: readonly string[]): void {
  const seen = new Set<object>();
  const visit = (node: unknown): void => {
    if (typeof node !== "object" || node === null || seen.has(node)) return;
    seen.add(node);
    const record = node as Record<string, unknown>;
    if (Array.isArray(record.required)) {
      record.required = record.required.filter((name) => !names.includes(name as string));
    }
    for (const child of Object.values(record)) visit(child);
  };
  visit(schema);
}

async function compileSchema(file: string, schema: object, options: SpecOptions): Promise<ValidateFunction> {
  const resolved = await $RefParser.dereference(pathOf(file), schema, { parse: { yaml: yamlParser } });
  if (options.withoutRequired === undefined) return ajv.compile(resolved);
  // A copy, so nothing the ref parser may share between schemas is changed.
  const relaxed = structuredClone(resolved);
  dropRequired(relaxed, options.withoutRequired);
  return ajv.compile(relaxed);
}

async function compileResponse(
  file: string,
  path: string,
  method: string,
  status: number,
  options: SpecOptions,
): Promise<ValidateFunction> {
  const document = await documentOf(file);
  const operation = document.paths?.[path]?.[method];
  if (operation === undefined) throw new Error(`${file} defines no ${method.toUpperCase()} ${path}`);
  const schema = operation.responses?.[String(status)]?.content?.["application/json"]?.schema;
  if (schema === undefined)
    throw new Error(`${file} defines no JSON ${status} response for ${method.toUpperCase()} ${path}`);
  // Only this schema's $refs are resolved (some files refer to definitions the copy lacks), and
  // the file's own component schemas, for "#/components/schemas/..." (as in capabilities.yaml).
  const components = document.components?.schemas
    ? { components: { schemas: document.components.schemas } }
    : {};
  return compileSchema(file, { ...structuredClone(schema), ...structuredClone(components) }, options);
}

function cached(key: string, compile: () => Promise<ValidateFunction>): Promise<ValidateFunction> {
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = compile();
    validators.set(key, validate);
  }
  return validate;
}

function optionsKey(options: SpecOptions): string {
  return options.withoutRequired === undefined
    ? ""
    : ` without required ${options.withoutRequired.join(", ")}`;
}

function describeError(error: ErrorObject): string {
  const params = Object.keys(error.params).length > 0 ? ` ${JSON.stringify(error.params)}` : "";
  return `  ${error.instancePath || "(body)"} ${error.message ?? error.keyword}${params}`;
}

function check(validate: ValidateFunction, what: string, body: unknown): void {
  if (validate(body)) return;
  const errors = (validate.errors ?? []).map(describeError).join("\n");
  throw new AssertionError({
    message: `${what}:\n${errors}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
    actual: body,
  });
}

/**
 * Throws an AssertionError listing Ajv's complaints when `body` does not match the response schema
 * of `method path` with `status` in `file` (for instance "registration.yaml", "/register").
 */
export async function expectMatchesSpec(
  file: string,
  path: string,
  method: string,
  status: number,
  body: unknown,
  options: SpecOptions = {},
): Promise<void> {
  const verb = method.toLowerCase();
  const validate = await cached(`${file} ${verb} ${path} ${status}${optionsKey(options)}`, () =>
    compileResponse(file, path, verb, status, options),
  );
  check(
    validate,
    `${method.toUpperCase()} ${path} ${status} does not match ${file}${optionsKey(options)}`,
    body,
  );
}

/**
 * The same against a whole schema file (path relative to data/api/), for schemas no response names
 * alone: "../event-schemas/schema/m.room.create.yaml", "client-server/definitions/errors/error.yaml".
 */
export async function expectMatchesSpecSchema(
  file: string,
  body: unknown,
  options: SpecOptions = {},
): Promise<void> {
  const validate = await cached(`${file}${optionsKey(options)}`, async () =>
    compileSchema(file, parseYaml(await readFile(pathOf(file), "utf8")) as object, options),
  );
  check(validate, `body does not match ${file}${optionsKey(options)}`, body);
}
