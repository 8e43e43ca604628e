// RFC 9420 section 2.1.2 variable-length vectors: a QUIC-style varint length, then the bytes.
// Readers are strict (minimal length encoding, no overrun) so that one identity has one encoding.

export class TlsVectorError extends Error {
  override readonly name = "TlsVectorError";
}

const MAX_VECTOR_LENGTH = 0x3fff_ffff; // 30 bits: the longest length a 4-byte varint holds

export function encodeVector(value: Uint8Array): Uint8Array {
  const length = value.length;
  if (length > MAX_VECTOR_LENGTH) throw new TlsVectorError(`vector too long: ${length} bytes`);
  const prefix =
    length < 0x40
      ? [length]
      : length < 0x4000
        ? [0x40 | (length >> 8), length & 0xff]
        : [0x80 | (length >>> 24), (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff];
  const out = new Uint8Array(prefix.length + length);
  out.set(prefix, 0);
  out.set(value, prefix.length);
  return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Reads one vector at `offset`; returns its bytes (a copy) and the offset after it. */
export function readVector(bytes: Uint8Array, offset: number): [Uint8Array, number] {
  const first = byteAt(bytes, offset);
  const size = 1 << (first >> 6);
  if (size === 8) throw new TlsVectorError("invalid varint prefix 0b11");
  let length = first & 0x3f;
  for (let i = 1; i < size; i++) length = length * 256 + byteAt(bytes, offset + i);
  const minimal = size === 1 || length >= (size === 2 ? 0x40 : 0x4000);
  if (!minimal) throw new TlsVectorError("vector length not minimally encoded");
  const start = offset + size;
  if (start + length > bytes.length) throw new TlsVectorError("vector runs past the end");
  return [bytes.slice(start, start + length), start + length];
}

function byteAt(bytes: Uint8Array, offset: number): number {
  const value = bytes[offset];
  if (value === undefined) throw new TlsVectorError("vector length runs past the end");
  return value;
}
