// security.window (section 3): a past epoch's secrets are kept only as long as the room allows.
// Dropping an epoch also zeroes its secret bytes, except bytes the remaining state still uses:
// ts-mls shares arrays between states, and a decoded state's arrays are views into one buffer.
import type { ClientState, EpochReceiverData, SecretTree } from "ts-mls";

/** A copy of `state` without the past epochs `keep` refuses; their unshared secrets are zeroed. */
export function dropEpochSecrets(state: ClientState, keep: (epoch: bigint) => boolean): ClientState {
  const kept = new Map<bigint, EpochReceiverData>();
  const dropped: EpochReceiverData[] = [];
  for (const [epoch, data] of state.historicalReceiverData) {
    if (keep(epoch)) kept.set(epoch, data);
    else dropped.push(data);
  }
  if (dropped.length === 0) return state;
  const pruned: ClientState = { ...state, historicalReceiverData: kept };
  const live = new ByteRanges(reachableBytes(pruned));
  for (const data of dropped) {
    for (const secret of epochSecrets(data)) if (!live.overlaps(secret)) secret.fill(0);
  }
  return pruned;
}

function epochSecrets(data: EpochReceiverData): Uint8Array[] {
  return [data.resumptionPsk, data.senderDataSecret, ...secretTreeValues(data.secretTree)];
}

function secretTreeValues(tree: SecretTree): Uint8Array[] {
  const values = Object.values(tree.intermediateNodes);
  for (const node of Object.values(tree.leafNodes)) {
    for (const ratchet of [node.handshake, node.application]) {
      values.push(ratchet.secret, ...Object.values(ratchet.unusedGenerations));
    }
  }
  return values;
}

// Every byte array the state holds, public or secret: cheaper to walk than to miss a shared one.
function reachableBytes(root: unknown): Uint8Array[] {
  const found: Uint8Array[] = [];
  const seen = new Set<object>();
  const pending: unknown[] = [root];
  while (pending.length > 0) {
    const value = pending.pop();
    if (typeof value !== "object" || value === null || seen.has(value)) continue;
    seen.add(value);
    if (value instanceof Uint8Array) found.push(value);
    else if (value instanceof Map) pending.push(...value.values());
    else pending.push(...Object.values(value));
  }
  return found;
}

/** Byte ranges per buffer, sorted, answering "does this array share memory with any of them". */
class ByteRanges {
  private readonly byBuffer = new Map<ArrayBufferLike, { starts: number[]; maxEnds: number[] }>();

  constructor(arrays: readonly Uint8Array[]) {
    const grouped = new Map<ArrayBufferLike, [number, number][]>();
    for (const array of arrays) {
      if (array.byteLength === 0) continue;
      const ranges = grouped.get(array.buffer) ?? [];
      ranges.push([array.byteOffset, array.byteOffset + array.byteLength]);
      grouped.set(array.buffer, ranges);
    }
    for (const [buffer, ranges] of grouped) {
      ranges.sort((a, b) => a[0] - b[0]);
      let maxEnd = 0;
      const maxEnds = ranges.map(([, end]) => (maxEnd = Math.max(maxEnd, end)));
      this.byBuffer.set(buffer, { starts: ranges.map(([start]) => start), maxEnds });
    }
  }

  overlaps(array: Uint8Array): boolean {
    const ranges = this.byBuffer.get(array.buffer);
    if (!ranges || array.byteLength === 0) return false;
    const start = array.byteOffset;
    const end = start + array.byteLength;
    // The last range starting before `end`; ranges up to it overlap when one ends after `start`.
    let low = 0;
    let high = ranges.starts.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((ranges.starts[middle] as number) < end) low = middle + 1;
      else high = middle;
    }
    return low > 0 && (ranges.maxEnds[low - 1] as number) > start;
  }
}
