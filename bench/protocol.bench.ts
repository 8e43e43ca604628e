// npm run bench:protocol — the protocol layer's costs on this machine (issue 2 targets):
// fully checked m.room.encrypted PDUs per second beside bare Ed25519 verifications per second,
// and state resolution over 1,000 / 10,000 / 100,000 competing commits.
import { canonicalForms } from "../src/protocol/pdu/canonicalForms.js";
import { checkIncomingPdu } from "../src/protocol/receive.js";
import { nodeCrypto, nodeSigner } from "../src/platform/nodeCrypto.js";
import { applicationBytes } from "../test/helpers/mls.js";
import { keyLookup, roomFixture, signed } from "../test/helpers/room.js";
import { compareRates, describeMachine } from "./machine.js";
import { benchStateResolution } from "./stateResolutionBench.js";

const crypto = nodeCrypto();
console.log(`machine: ${describeMachine()}`);

// A realistic message: 1 KiB of plaintext, encrypted by a real MLS group.
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
const wire = JSON.parse(JSON.stringify(signed(event).pdu)) as unknown;
const context = { crypto, keys: keyLookup, authEvents: room.lookup };
const firstCheck = checkIncomingPdu(wire, context);
if (!firstCheck.ok) throw new Error(`benchmark PDU was rejected: ${JSON.stringify(firstCheck.rejection)}`);

// The bare verification signs a message as long as the PDU's signed form, so both hash as much.
const signer = nodeSigner("ed25519:bench", crypto.sha256(new TextEncoder().encode("bench")));
const message = new Uint8Array(canonicalForms(wire as Record<string, unknown>).signingInput.length).fill(7);
const signature = signer.sign(message);
const {
  a: bareVerify,
  b: fullCheck,
  ratio,
} = compareRates(
  () => crypto.ed25519Verify(signer.publicKey, message, signature),
  () => checkIncomingPdu(wire, context),
);
console.log(
  `bare Ed25519 verifications:   ${bareVerify.toFixed(0)} /s (one core, ${message.length}-byte message)`,
);
console.log(
  `fully checked PDUs:           ${fullCheck.toFixed(0)} /s (shape, signature, hash, framing, R1-R12)`,
);
console.log(
  `ratio:                        ${(ratio * 100).toFixed(1)} % of bare verify (median of 7 alternating rounds; target >= 75 %)`,
);

const sizes = [1_000, 10_000, 100_000];
const figures = benchStateResolution(sizes);
for (const { commits, ms } of figures) {
  const perNLogN = (ms * 1e6) / (commits * Math.log2(commits));
  console.log(
    `state resolution, ${String(commits).padStart(7)} commits: ${ms.toFixed(1).padStart(8)} ms (${perNLogN.toFixed(2)} ns per n·log2 n)`,
  );
}
const [small, , large] = figures;
if (small && large) {
  const growth = large.ms / small.ms;
  const nLogN = (large.commits * Math.log2(large.commits)) / (small.commits * Math.log2(small.commits));
  console.log(
    `growth 1,000 -> 100,000 commits: x${growth.toFixed(1)} (n log n would be x${nLogN.toFixed(1)})`,
  );
}
