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
};

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

async function compile(
  file: string,
  path: string,
  method: string,
  status: number,
): Promise<ValidateFunction> {
  const operation = (await documentOf(file)).paths?.[path]?.[method];
  if (operation === undefined) throw new Error(`${file} defines no ${method.toUpperCase()} ${path}`);
  const schema = operation.responses?.[String(status)]?.content?.["application/json"]?.schema;
  if (schema === undefined)
    throw new Error(`${file} defines no JSON ${status} response for ${method.toUpperCase()} ${path}`);
  // Only this schema's $refs are resolved: some files refer to definitions the copy lacks.
  const resolved = await $RefParser.dereference(pathOf(file), structuredClone(schema), {
    parse: { yaml: yamlParser },
  });
  return ajv.compile(resolved);
}

function validatorFor(file: string, path: string, method: string, status: number): Promise<ValidateFunction> {
  const key = `${file} ${method} ${path} ${status}`;
  let validate = validators.get(key);
  if (validate === undefined) {
    validate = compile(file, path, method, status);
    validators.set(key, validate);
  }
  return validate;
}

function describeError(error: ErrorObject): string {
  const params = Object.keys(error.params).length > 0 ? ` ${JSON.stringify(error.params)}` : "";
  return `  ${error.instancePath || "(body)"} ${error.message ?? error.keyword}${params}`;
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
): Promise<void> {
  const validate = await validatorFor(file, path, method.toLowerCase(), status);
  if (validate(body)) return;
  const errors = (validate.errors ?? []).map(describeError).join("\n");
  throw new AssertionError({
    message: `${method.toUpperCase()} ${path} ${status} does not match ${file}:\n${errors}\nbody: ${JSON.stringify(body).slice(0, 2000)}`,
    actual: body,
  });
}
