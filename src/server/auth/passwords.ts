// Password hashes: scrypt with a random salt, its parameters stored beside the hash so they can be
// raised later without invalidating old hashes. Verification compares in constant time. The
// hashing runs on dedicated worker threads (hashWorkers.ts), never on libuv's thread pool.
import { randomBytes, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { HashWorkerPool } from "./hashWorkers.js";

export { HashQueueFull } from "./hashWorkers.js";

// OWASP's scrypt setting with the smallest memory use (N=2^14, r=8, p=5: 16 MiB, ~0.1 s), so
// that concurrent logins cannot exhaust the server's memory.
const COST = { N: 2 ** 14, r: 8, p: 5 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;
// Refuse stored parameters beyond this (a tampered row must not make a login allocate gigabytes).
const MAX_MEMORY = 256 * 1024 * 1024;

export interface PasswordHashingOptions {
  /** Worker threads that hash. */
  readonly workers: number;
  /** Hashes that may wait for a worker; more are refused with HashQueueFull. */
  readonly queue: number;
}

export class PasswordHasher {
  private readonly pool: HashWorkerPool;
  private decoy: Promise<string> | undefined;

  constructor(options: PasswordHashingOptions) {
    this.pool = new HashWorkerPool(options.workers, options.queue);
  }

  /** `scrypt$N$r$p$salt$hash` (salt and hash in base64). */
  async hash(password: string): Promise<string> {
    const salt = randomBytes(SALT_BYTES);
    const key = await this.derive(password, salt, KEY_BYTES, COST);
    return ["scrypt", COST.N, COST.r, COST.p, salt.toString("base64"), key.toString("base64")].join("$");
  }

  async verify(password: string, stored: string): Promise<boolean> {
    const [scheme, n, r, p, salt, hash] = stored.split("$");
    if (scheme !== "scrypt" || salt === undefined || hash === undefined) return false;
    const expected = Buffer.from(hash, "base64");
    if (expected.length < KEY_BYTES) return false;
    const key = await this.derive(password, Buffer.from(salt, "base64"), expected.length, {
      N: Number(n),
      r: Number(r),
      p: Number(p),
    });
    return timingSafeEqual(key, expected);
  }

  /** A hash of no one's password: unknown users are checked against it so they take as long. */
  decoyHash(): Promise<string> {
    if (this.decoy === undefined) {
      const decoy = this.hash(randomBytes(16).toString("base64"));
      // A refused decoy (full queue) is not kept: the next login tries again.
      decoy.catch(() => {
        if (this.decoy === decoy) this.decoy = undefined;
      });
      this.decoy = decoy;
    }
    return this.decoy;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private derive(password: string, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
    // NFKC: the same password typed on another keyboard or OS gives the same bytes.
    return this.pool.scrypt(password.normalize("NFKC"), salt, keyBytes, { ...options, maxmem: MAX_MEMORY });
  }
}
