// The single writer shared by both backends: queued jobs run back to back inside one transaction,
// each under its own savepoint, and the batch commits once (see database.ts).
import type { Database, Dialect, Queryable, SqlValue, WriteTransaction } from "./database.js";

/** A connection the writer owns alone. */
export interface WriterConnection extends Queryable {
  /** Runs one or more `;`-separated statements without parameters. */
  exec(sql: string): Promise<void>;
  /** Makes the last commit durable, where COMMIT itself does not (see sqlite.ts). */
  sync?(): Promise<void>;
}

interface QueuedJob {
  run(tx: WriteTransaction): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class GroupCommitWriter {
  private queue: QueuedJob[] = [];
  private running = false;
  private position: number;
  private committed: number;
  private readonly listeners = new Set<(position: number) => void>();

  constructor(
    private readonly connection: WriterConnection,
    startPosition: number,
  ) {
    this.position = startPosition;
    this.committed = startPosition;
  }

  get committedPosition(): number {
    return this.committed;
  }

  onCommit(listener: (position: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  write<T>(job: (tx: WriteTransaction) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run: job, resolve: resolve as (value: unknown) => void, reject });
      if (!this.running) void this.drain();
    });
  }

  /** Waits until every queued job has committed (used on shutdown). */
  async idle(): Promise<void> {
    while (this.running || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        await this.runBatch(batch);
      }
    } finally {
      this.running = false;
    }
  }

  private async runBatch(batch: QueuedJob[]): Promise<void> {
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    const startPosition = this.position;
    const afterCommit: Array<() => void> = [];
    const tx: WriteTransaction = {
      all: <T>(sql: string, params?: readonly SqlValue[]) => this.connection.all<T>(sql, params),
      get: <T>(sql: string, params?: readonly SqlValue[]) => this.connection.get<T>(sql, params),
      run: (sql: string, params?: readonly SqlValue[]) => this.connection.run(sql, params),
      nextStreamPosition: () => ++this.position,
      afterCommit: (callback) => void afterCommit.push(callback),
    };
    try {
      // Each job runs under the savepoint "job"; the release of one and the savepoint of the
      // next travel in one statement list, which saves a round trip per job on PostgreSQL.
      await this.connection.exec("BEGIN; SAVEPOINT job");
      for (const [index, job] of batch.entries()) {
        if (index > 0) await this.connection.exec("RELEASE SAVEPOINT job; SAVEPOINT job");
        const positionBefore = this.position;
        const callbacksBefore = afterCommit.length;
        try {
          outcomes.push({ ok: true, value: await job.run(tx) });
        } catch (error) {
          await this.connection.exec("ROLLBACK TO SAVEPOINT job");
          // Positions of a rolled-back job are reused, so the stream has no gaps to explain.
          this.position = positionBefore;
          afterCommit.length = callbacksBefore;
          outcomes.push({ ok: false, error });
        }
      }
      if (this.position !== startPosition) {
        await this.connection.run("UPDATE stream_head SET position = ? WHERE id = 1", [this.position]);
      }
      await this.connection.exec("RELEASE SAVEPOINT job; COMMIT");
      await this.connection.sync?.();
    } catch (error) {
      // The batch as a whole failed (disk full, connection lost): nothing of it is stored.
      this.position = startPosition;
      await this.connection.exec("ROLLBACK").catch(() => undefined);
      for (const job of batch) job.reject(error);
      return;
    }
    this.committed = this.position;
    for (const callback of afterCommit) callback();
    batch.forEach((job, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) job.resolve(outcome.value);
      else job.reject(outcome?.error);
    });
    if (this.position !== startPosition) for (const listener of this.listeners) listener(this.committed);
  }
}

/** The Database both backends present: reads on `reader`, writes through `writer`. */
export function databaseOver(
  dialect: Dialect,
  reader: Queryable,
  writer: GroupCommitWriter,
  closeConnections: () => Promise<void>,
): Database {
  return {
    dialect,
    all: reader.all,
    get: reader.get,
    run: (sql, params) => writer.write((tx) => tx.run(sql, params)),
    write: (job) => writer.write(job),
    get committedPosition() {
      return writer.committedPosition;
    },
    onCommit: (listener) => writer.onCommit(listener),
    close: async () => {
      await writer.idle();
      await closeConnections();
    },
  };
}
