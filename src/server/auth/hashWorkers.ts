// scrypt on worker threads of its own. Node's asynchronous scrypt runs on libuv's thread pool
// (4 threads by default), the pool that also runs the SQLite fsync of every write: a handful of
// concurrent logins used to stall everyone's sends. Here each worker runs the synchronous scrypt
// on its own thread, one hash at a time, and a bounded queue refuses work beyond its size.
import { Worker } from "node:worker_threads";
import type { ScryptOptions } from "node:crypto";

/** The queue is full: try again after `retryAfterMs`. */
export class HashQueueFull extends Error {
  override readonly name = "HashQueueFull";
  constructor(readonly retryAfterMs: number) {
    super("Too many password hashes queued");
  }
}

export class HashPoolClosed extends Error {
  override readonly name = "HashPoolClosed";
}

interface Task {
  readonly password: string;
  readonly salt: Buffer;
  readonly keyBytes: number;
  readonly options: ScryptOptions;
  resolve(key: Buffer): void;
  reject(error: Error): void;
}

interface Slot {
  readonly worker: Worker;
  task: Task | undefined;
  startedAt: number;
}

// Plain JavaScript evaluated in the worker (no loader, no file path: the same under tsx and dist/).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { scryptSync } = require("node:crypto");
parentPort.on("message", ({ password, salt, keyBytes, options }) => {
  try {
    parentPort.postMessage({ key: scryptSync(password, salt, keyBytes, options) });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message) });
  }
});
`;

// A first guess of one hash's duration, refined by measurement, for retry_after_ms.
const INITIAL_ESTIMATE_MS = 100;

export class HashWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private estimateMs = INITIAL_ESTIMATE_MS;
  private closed = false;

  constructor(
    private readonly workers: number,
    private readonly queueLimit: number,
  ) {}

  /** scrypt of `password`; rejects with HashQueueFull when the queue holds `queueLimit` tasks. */
  scrypt(password: string, salt: Buffer, keyBytes: number, options: ScryptOptions): Promise<Buffer> {
    if (this.closed) return Promise.reject(new HashPoolClosed("The password hash pool is closed"));
    return new Promise<Buffer>((resolve, reject) => {
      const task: Task = { password, salt, keyBytes, options, resolve, reject };
      const idle = this.idleSlot();
      if (idle !== undefined) return this.start(idle, task);
      if (this.queue.length >= this.queueLimit) {
        const waitMs = Math.ceil((this.estimateMs * (this.queue.length + 1)) / this.workers);
        return reject(new HashQueueFull(Math.max(waitMs, INITIAL_ESTIMATE_MS)));
      }
      this.queue.push(task);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const error = new HashPoolClosed("The password hash pool is closed");
    for (const task of this.queue.splice(0)) task.reject(error);
    const slots = this.slots.splice(0);
    for (const slot of slots) slot.task?.reject(error);
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  }

  private idleSlot(): Slot | undefined {
    const idle = this.slots.find((slot) => slot.task === undefined);
    if (idle !== undefined || this.slots.length >= this.workers) return idle;
    return this.spawn();
  }

  private start(slot: Slot, task: Task): void {
    slot.task = task;
    slot.startedAt = Date.now();
    const { password, salt, keyBytes, options } = task;
    slot.worker.postMessage({ password, salt, keyBytes, options });
  }

  private spawn(): Slot {
    // No inherited loader flags (tsx): the worker runs only the plain source above.
    const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    // Never the reason the process stays alive; close() ends it on shutdown.
    worker.unref();
    const slot: Slot = { worker, task: undefined, startedAt: 0 };
    this.slots.push(slot);
    worker.on("message", (message: { key?: Uint8Array; error?: string }) => {
      const task = slot.task;
      slot.task = undefined;
      if (task !== undefined) {
        if (message.key !== undefined) {
          this.estimateMs = (this.estimateMs * 3 + (Date.now() - slot.startedAt)) / 4;
          const { buffer, byteOffset, byteLength } = message.key;
          task.resolve(Buffer.from(buffer, byteOffset, byteLength));
        } else task.reject(new Error(message.error ?? "scrypt failed"));
      }
      const next = this.queue.shift();
      if (next !== undefined) this.start(slot, next);
    });
    // A crashed worker fails its task and is replaced.
    worker.on("error", (error) => this.retire(slot, error));
    worker.on("exit", () => this.retire(slot, new Error("A password hash worker exited")));
    return slot;
  }

  private retire(slot: Slot, error: Error): void {
    const index = this.slots.indexOf(slot);
    if (index < 0) return;
    this.slots.splice(index, 1);
    slot.task?.reject(error);
    slot.task = undefined;
    const next = this.closed ? undefined : this.queue.shift();
    if (next !== undefined) this.start(this.spawn(), next);
  }
}
