// npx tsx bench/client.bench.ts — the client's MLS costs on this machine, through the engine
// (src/client/mls/engine.ts): key package, add, join, remove, self-update, encrypt and decrypt
// 1 KiB, and the stored group state's size, for groups of 10, 100 and 1,000 members.
// Only two members hold real states: the committer and one receiver. The other members' key
// packages are generated, added in large batches, and their private keys dropped.
import {
  createDeviceKeyPackage,
  createRoomCommit,
  createRoomGroup,
  encodeGroupState,
  encryptRoomMessage,
  generateSignatureKeyPair,
  joinFromWelcome,
  ownLeafIndex,
  receiveRoomMessage,
  type DeviceKeyPackage,
  type GroupState,
  type PendingCommit,
} from "../src/client/mls/engine.js";
import type { FederationObject } from "../src/protocol/federationObject.js";
import { describeMachine } from "./machine.js";

const SIZES = [10, 100, 1_000] as const;
const BATCH = 100;
const federation: FederationObject = {
  federation: { powers: ["a.example"], servers: ["a.example"], canPropose: ["a.example"] },
  security: { window: 0, requiredVerification: "m.cross" },
};
const message = { type: "m.room.message", content: { body: "x".repeat(1024) } };

console.log(`machine: ${describeMachine()}`);

let deviceCounter = 0;
async function keyPackage(): Promise<DeviceKeyPackage> {
  deviceCounter++;
  return createDeviceKeyPackage({
    userId: `@u${deviceCounter}:a.example`,
    deviceId: `D${deviceCounter}`,
    signatureKeyPair: await generateSignatureKeyPair(),
    algorithm: "mls_key_package",
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

// The committer's and the receiver's states; every commit goes through both.
let committer: GroupState;
let receiver: GroupState | undefined;
let size = 1;

async function commit(params: {
  addKeyPackages?: readonly string[];
  removeLeafIndices?: readonly number[];
}): Promise<{ pending: PendingCommit; commitMs: number; receiveMs: number }> {
  const { ms: commitMs, value: pending } = await timed(() =>
    createRoomCommit({ state: committer, federation, ...params }),
  );
  committer = pending.pendingState;
  let receiveMs = Number.NaN;
  if (receiver) {
    const current = receiver;
    const { ms, value } = await timed(() => receiveRoomMessage(current, pending.ciphertext));
    receiveMs = ms;
    receiver = value.state;
  }
  return { pending, commitMs, receiveMs };
}

async function growTo(target: number, receiverPackage?: DeviceKeyPackage): Promise<void> {
  while (size < target) {
    const count = Math.min(BATCH, target - size);
    const start = performance.now();
    const packages: DeviceKeyPackage[] = [];
    for (let i = 0; i < count; i++) {
      packages.push(receiverPackage && !receiver && i === 0 ? receiverPackage : await keyPackage());
    }
    const kpMs = performance.now() - start;
    const { pending, commitMs, receiveMs } = await commit({ addKeyPackages: packages.map((p) => p.wire) });
    if (receiverPackage && !receiver) {
      if (!pending.welcome) throw new Error("no Welcome");
      receiver = await joinFromWelcome(pending.welcome, receiverPackage);
    }
    size += count;
    if (target >= 1_000) {
      console.log(
        `  building: ${size} members (${count} key packages ${kpMs.toFixed(0)} ms, ` +
          `commit ${commitMs.toFixed(0)} ms, receiver ${receiveMs.toFixed(0)} ms)`,
      );
    }
  }
}

interface Row {
  size: number;
  runs: number;
  keyPackage: number;
  addCommit: number;
  addReceive: number;
  join: number;
  removeCommit: number;
  removeReceive: number;
  updateCommit: number;
  updateReceive: number;
  encrypt: number;
  decrypt: number;
  stateBytes: number;
  receiverStateBytes: number;
}

async function measure(n: number, runs: number): Promise<Row> {
  const kp: number[] = [];
  const addCommit: number[] = [];
  const addReceive: number[] = [];
  const join: number[] = [];
  const removeCommit: number[] = [];
  const removeReceive: number[] = [];
  const updateCommit: number[] = [];
  const updateReceive: number[] = [];
  for (let run = 0; run < runs; run++) {
    // Add one member (group of n → n + 1), who joins from the Welcome.
    const { ms: kpMs, value: joiner } = await timed(keyPackage);
    kp.push(kpMs);
    const added = await commit({ addKeyPackages: [joiner.wire] });
    addCommit.push(added.commitMs);
    addReceive.push(added.receiveMs);
    const welcome = added.pending.welcome;
    if (!welcome) throw new Error("no Welcome");
    const joined = await timed(() => joinFromWelcome(welcome, joiner));
    join.push(joined.ms);
    // Remove that member again (n + 1 → n).
    const removed = await commit({ removeLeafIndices: [ownLeafIndex(joined.value)] });
    removeCommit.push(removed.commitMs);
    removeReceive.push(removed.receiveMs);
    // Self-update: a commit with no proposals, hence with an update path.
    const updated = await commit({});
    updateCommit.push(updated.commitMs);
    updateReceive.push(updated.receiveMs);
  }
  // Encrypt and decrypt 1 KiB: cheap, so 20 runs each.
  const ciphertexts: string[] = [];
  const encrypt: number[] = [];
  for (let i = 0; i < 20; i++) {
    const state = committer;
    const { ms, value } = await timed(() => encryptRoomMessage(state, message));
    encrypt.push(ms);
    committer = value.state;
    ciphertexts.push(value.ciphertext);
  }
  const decrypt: number[] = [];
  for (const ciphertext of ciphertexts) {
    const state = receiver as GroupState;
    const { ms, value } = await timed(() => receiveRoomMessage(state, ciphertext));
    if (value.kind !== "application") throw new Error("expected an application message");
    decrypt.push(ms);
    receiver = value.state;
  }
  return {
    size: n,
    runs,
    keyPackage: median(kp),
    addCommit: median(addCommit),
    addReceive: median(addReceive),
    join: median(join),
    removeCommit: median(removeCommit),
    removeReceive: median(removeReceive),
    updateCommit: median(updateCommit),
    updateReceive: median(updateReceive),
    encrypt: median(encrypt),
    decrypt: median(decrypt),
    stateBytes: encodeGroupState(committer).length,
    receiverStateBytes: encodeGroupState(receiver as GroupState).length,
  };
}

const benchStart = performance.now();
committer = await createRoomGroup("!bench:a.example", await keyPackage());
const receiverPackage = await keyPackage();
const rows: Row[] = [];
for (const n of SIZES) {
  const start = performance.now();
  await growTo(n, receiverPackage);
  console.log(`group of ${n} built in ${((performance.now() - start) / 1000).toFixed(1)} s (cumulative)`);
  const runs = 5;
  const row = await measure(n, runs);
  rows.push(row);
  console.log(`group of ${n} measured (${runs} runs each for membership ops, 20 for messages)`);
}

const columns: [string, (row: Row) => string][] = [
  ["N", (r) => String(r.size)],
  ["runs", (r) => String(r.runs)],
  ["key package", (r) => r.keyPackage.toFixed(1)],
  ["add: commit", (r) => r.addCommit.toFixed(1)],
  ["add: receive", (r) => r.addReceive.toFixed(1)],
  ["add: join", (r) => r.join.toFixed(1)],
  ["remove: commit", (r) => r.removeCommit.toFixed(1)],
  ["remove: receive", (r) => r.removeReceive.toFixed(1)],
  ["update: commit", (r) => r.updateCommit.toFixed(1)],
  ["update: receive", (r) => r.updateReceive.toFixed(1)],
  ["encrypt 1 KiB", (r) => r.encrypt.toFixed(2)],
  ["decrypt 1 KiB", (r) => r.decrypt.toFixed(2)],
  ["state B (committer)", (r) => String(r.stateBytes)],
  ["state B (receiver)", (r) => String(r.receiverStateBytes)],
];
console.log("\nTimes in ms: medians of `runs` runs (membership ops) or of 20 runs (encrypt/decrypt).");
console.log("add/remove/update 'receive' = another member processing the commit.");
console.log("The group is built by add-only commits (no update path), so its tree is mostly blank:");
console.log("update paths encrypt to large resolutions; a group whose members all updated is cheaper.");
console.log(
  "ts-mls 2.0.0-rc.10 sends a single-remove commit without an update path (RFC 9420 12.4 requires one).",
);
const widths = columns.map(([name, cell]) => Math.max(name.length, ...rows.map((r) => cell(r).length)));
const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join("  ");
console.log(line(columns.map(([name]) => name)));
for (const row of rows) console.log(line(columns.map(([, cell]) => cell(row))));
console.log(`\ntotal ${((performance.now() - benchStart) / 1000).toFixed(1)} s`);
