// Signatures and canonical JSON checked by an independent implementation: Debian's
// python3-signedjson and python3-canonicaljson (installed by .ci/run) verify the key answer of a
// real server process and an X-Matrix request signed with that server's key, and write the same
// canonical JSON as ours.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson } from "../../../src/protocol/canonicalJson.js";
import { createFederationClient } from "../../../src/server/federation/transport/federationClient.js";
import { createHttpTransport } from "../../../src/server/federation/transport/httpTransport.js";
import type { ServerKeysResponse } from "../../../src/server/federation/transport/serverKeys.js";
import { parseXMatrix } from "../../../src/server/federation/transport/xMatrix.js";
import { request } from "../../helpers/http.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { json, serverSigner, startHttpServer, type LocalHttpServer } from "./federationPeer.js";

// Debian's packages live in the system Python, which a pyenv `python3` on PATH may hide.
const PYTHON = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

/** Runs `script` with `input` as JSON on stdin; its stdout, trimmed. Throws if it fails. */
function python(script: string, input: unknown): string {
  return execFileSync(PYTHON, ["-c", script], { input: JSON.stringify(input), encoding: "utf8" }).trim();
}

// Verifies `signed` as `signer` with every ed25519 key of `keys` (a /key/v2/server answer).
const VERIFY = `
import json, sys
from signedjson.key import decode_verify_key_bytes
from signedjson.sign import verify_signed_json, SignatureVerifyException
from unpaddedbase64 import decode_base64
doc = json.load(sys.stdin)
try:
    for key_id, entry in doc["keys"]["verify_keys"].items():
        verify_signed_json(doc["signed"], doc["signer"], decode_verify_key_bytes(key_id, decode_base64(entry["key"])))
    print("valid")
except SignatureVerifyException as e:
    print("invalid: %s" % e)
`;

describe("signed JSON checked by python3-signedjson", () => {
  let server: ServerProcess;
  let keys: ServerKeysResponse;
  let peer: LocalHttpServer;
  const transport = createHttpTransport({ allowPlainHttp: "loopback" });

  beforeAll(async () => {
    server = await startServerProcess();
    keys = (await request<ServerKeysResponse>(server.url, "GET", "/_matrix/key/v2/server")).body;
    peer = await startHttpServer((_request, _body, response) => json(response, 200, {}));
  });
  afterAll(async () => {
    transport.close();
    await peer.close();
    await server.destroy();
  });

  it("the Python modules are installed (.ci/run installs them)", () => {
    expect(python("import signedjson.sign, canonicaljson; print('ok')", null)).toBe("ok");
  });

  it("verifies the server's /_matrix/key/v2/server answer", () => {
    expect(python(VERIFY, { keys, signed: keys, signer: server.serverName })).toBe("valid");
  });

  it("refuses the key answer once a field is changed (the check is not vacuous)", () => {
    const changed = { ...keys, valid_until_ts: keys.valid_until_ts + 1 };
    expect(python(VERIFY, { keys, signed: changed, signer: server.serverName })).toMatch(/^invalid/);
  });

  it("verifies an X-Matrix request signed with the server's key", async () => {
    const client = createFederationClient({
      serverName: server.serverName,
      signer: serverSigner(server.dataDir),
      transport,
      resolver: { resolve: async () => ({ url: peer.url, hostHeader: "peer.test", pinned: true }) },
    });
    const content = {
      pdus: [{ text: 'Grüße \u2028 "quoted" \\', n: -5, nested: { b: 1, a: [true, null] } }],
    };
    await client.request("peer.test", "PUT", "/_matrix/federation/v1/send/txn%201", {
      body: content,
      query: { x: "y z" },
    });
    const sent = peer.requests.at(-1);
    const auth = parseXMatrix(sent?.headers.authorization ?? "");
    expect(auth).toBeDefined();
    const signed = {
      method: sent?.method,
      uri: sent?.url,
      origin: auth?.origin,
      destination: auth?.destination,
      content: JSON.parse(sent?.body ?? "null") as unknown,
      signatures: { [auth?.origin ?? ""]: { [auth?.key ?? ""]: auth?.sig } },
    };
    expect(signed.uri).toBe("/_matrix/federation/v1/send/txn%201?x=y+z");
    expect(python(VERIFY, { keys, signed, signer: server.serverName })).toBe("valid");
  });

  it("writes the same canonical JSON as python3-canonicaljson", () => {
    const value = {
      z: [1, -0, 9007199254740991, "\u0000\u001f\u007f", "é😀", { é: 1, e: 2, E: 3, "": 4 }],
      a: { nested: { deeper: [null, false, true] } },
      "\u2028": "line separator",
    };
    const script = `
import json, sys
from canonicaljson import encode_canonical_json
sys.stdout.buffer.write(encode_canonical_json(json.load(sys.stdin)))
`;
    expect(python(script, value)).toBe(canonicalJson(value));
  });
});
