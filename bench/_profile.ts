import { nodeCrypto } from "../src/platform/nodeCrypto.js";
import { applicationBytes } from "../test/helpers/mls.js";
import { keyLookup, roomFixture, signed } from "../test/helpers/room.js";
import { opsPerSecond } from "./machine.js";
import { validatePduShape } from "../src/protocol/pdu/shape.js";
import { checkPduIntegrity } from "../src/protocol/pdu/signing.js";
import { computeContentHash, redactedSigningBytes } from "../src/protocol/pdu/hashes.js";
import { canonicalJsonBytes, canonicalJson } from "../src/protocol/canonicalJson.js";
import { authorizeEvent } from "../src/protocol/auth/rules.js";
import { parseCiphertext } from "../src/protocol/auth/authEvent.js";
import { decodeBase64Lenient } from "../src/protocol/base64.js";
import { readMlsFraming } from "../src/protocol/mlsFraming.js";
const crypto = nodeCrypto();
const room = await roomFixture();
const event = room.event({
  type: "m.room.encrypted",
  origin: "a.example",
  content: room.mlsContent(
    await applicationBytes(
      room.group,
      JSON.stringify({ type: "m.room.message", content: { body: "x".repeat(1024) } }),
    ),
  ),
});
const pdu = JSON.parse(JSON.stringify(signed(event).pdu));
const ct = pdu.content.ciphertext as string;
const bytes = decodeBase64Lenient(ct);
const t = (name: string, fn: () => void) =>
  console.log(name.padEnd(20), (1e6 / opsPerSecond(fn, 700)).toFixed(1), "us");
t("shape", () => validatePduShape(pdu));
t("canonicalJson str", () => canonicalJson(pdu));
t("canonicalJsonBytes", () => canonicalJsonBytes(pdu));
t("JSON.stringify", () => JSON.stringify(pdu));
t("contentHash", () => computeContentHash(pdu, crypto));
t("signingBytes", () => redactedSigningBytes(pdu));
t("integrity", () => checkPduIntegrity(pdu, keyLookup, crypto));
t("base64 decode", () => decodeBase64Lenient(ct));
t("mls framing", () => readMlsFraming(bytes));
t("parseCiphertext", () => parseCiphertext(pdu.content));
t("rules", () => authorizeEvent(pdu, room.lookup));
t("sha256 2k", () => crypto.sha256(bytes));
import { canonicalForms } from "../src/protocol/pdu/canonicalForms.js";
t("forms", () => canonicalForms(pdu));
import { checkIncomingPdu } from "../src/protocol/receive.js";
t("full", () => checkIncomingPdu(pdu, { crypto, keys: keyLookup, authEvents: room.lookup }));
const fm = canonicalForms(pdu);
const key = keyLookup("a.example", "ed25519:test")!;
const sig = new Uint8Array(64);
t("verify only", () => crypto.ed25519Verify(key, fm.signingInput, sig));
t("integrity w/ forms", () => checkPduIntegrity(pdu, keyLookup, crypto, fm));
import { encodeBase64 } from "../src/protocol/base64.js";
const h = crypto.sha256(fm.contentHashInput);
t("encodeBase64 hash", () => encodeBase64(h));
t("sha256 contentHashInput", () => crypto.sha256(fm.contentHashInput));
t("node verify real sig", () =>
  crypto.ed25519Verify(
    key,
    fm.signingInput,
    decodeBase64Lenient(pdu.signatures["a.example"]["ed25519:test"]),
  ),
);
