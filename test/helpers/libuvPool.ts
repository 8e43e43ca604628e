// Occupies libuv's thread pool in tests, to prove that work does not run there.
import { execFileSync } from "node:child_process";
import { mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

// libuv's pool has UV_THREADPOOL_SIZE threads (4 unless set).
const POOL_THREADS = Number(process.env.UV_THREADPOOL_SIZE ?? 4);

/**
 * Occupies every libuv pool thread without using the CPU: opening a FIFO for reading blocks its
 * thread until someone opens the other end. Returns the function that frees them.
 */
export async function blockLibuvPool(): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), "myelin-fifo-"));
  const fifos = Array.from({ length: POOL_THREADS }, (_, i) => join(dir, `fifo${i}`));
  for (const fifo of fifos) execFileSync("mkfifo", [fifo]);
  const opening: Promise<FileHandle>[] = fifos.map((fifo) => open(fifo, "r"));
  await new Promise((resolve) => setTimeout(resolve, 100)); // every open is now on a pool thread
  return async () => {
    // Read-write opens of a FIFO never block on Linux and complete the waiting reads' opens.
    const writers = fifos.map((fifo) => openSync(fifo, "r+"));
    for (const handle of await Promise.all(opening)) await handle.close();
    for (const fd of writers) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  };
}
