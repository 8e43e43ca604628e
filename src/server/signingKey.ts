// The server's federation signing key: generated on first start, kept in the data directory
// (mode 0600), in the same `ed25519 <version> <unpadded base64 seed>` line format Synapse uses.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeBase64Unpadded, encodeBase64 } from "../protocol/base64.js";
import type { Ed25519Signer } from "../protocol/crypto.js";
import { nodeSigner } from "../platform/nodeCrypto.js";

export type ServerSigningKey = Ed25519Signer & { readonly publicKey: Uint8Array };

export function loadOrCreateSigningKey(dataDir: string): ServerSigningKey {
  const path = join(dataDir, "signing.key");
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const version = randomBytes(4).toString("hex");
    writeFileSync(path, `ed25519 ${version} ${encodeBase64(randomBytes(32))}\n`, { mode: 0o600, flag: "wx" });
  }
  // A key file of an older version, or one copied in, is made private too.
  if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
  const [algorithm, version, seed] = readFileSync(path, "utf8").trim().split(/\s+/);
  if (algorithm !== "ed25519" || !version || !seed)
    throw new Error(`${path} is not an ed25519 signing key file`);
  return nodeSigner(`ed25519:${version}`, decodeBase64Unpadded(seed));
}
