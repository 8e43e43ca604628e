// One asynchronous storage interface over two real backends (SQLite, PostgreSQL). SQL is written
// once with `?` placeholders in the subset both understand; each backend adapts it.
//
// Writes go through a single writer that commits concurrent requests' jobs together in one
// transaction (group commit): every job is durable before its promise resolves, and the cost of
// a commit (an fsync) is shared. The writer also hands out stream positions: positions are
// allocated and committed in one order, so a reader that sees position N has seen all below it.

export type SqlValue = string | number | bigint | null;

export interface Queryable {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

/** What a write job may do: query inside the shared transaction, and take stream positions. */
export interface WriteTransaction extends Queryable {
  nextStreamPosition(): number;
  /** Runs `callback` once this job's changes have committed (not if they are rolled back). */
  afterCommit(callback: () => void): void;
}

export type Dialect = "sqlite" | "postgres";

export interface Database extends Queryable {
  readonly dialect: Dialect;
  /**
   * Runs `job` inside the current write batch. A job that throws is rolled back alone (savepoint)
   * and its error is rethrown; the others commit. Resolves only after the commit is durable.
   */
  write<T>(job: (tx: WriteTransaction) => Promise<T>): Promise<T>;
  /** The highest stream position whose write has committed. */
  readonly committedPosition: number;
  /** Called after every commit with the new committed position. */
  onCommit(listener: (position: number) => void): () => void;
  close(): Promise<void>;
}

/** A component's schema, applied in order and recorded in schema_versions (by component). */
export interface Migrations {
  readonly component: string;
  /** Each entry is one schema version: statements run in one transaction. */
  readonly versions: readonly (readonly string[])[];
}
