// The retry state of failing destinations in the database (federation_outbound_backoff), so a
// restart resumes the backoff instead of starting from zero (issue 16).
import type { Database, Queryable } from "../../storage/database.js";

export interface StoredBackoff {
  readonly failures: number;
  readonly retryAt: number;
  readonly probeAt: number | undefined;
}

interface BackoffRow {
  destination: string;
  failures: number | string;
  retry_at: number | string;
  probe_at: number | string | null;
}

export async function loadBackoffs(db: Queryable): Promise<Map<string, StoredBackoff>> {
  const rows = await db.all<BackoffRow>(
    "SELECT destination, failures, retry_at, probe_at FROM federation_outbound_backoff",
  );
  return new Map(
    rows.map((row) => [
      row.destination,
      {
        failures: Number(row.failures),
        retryAt: Number(row.retry_at),
        probeAt: row.probe_at === null ? undefined : Number(row.probe_at),
      },
    ]),
  );
}

export async function saveBackoff(db: Database, destination: string, backoff: StoredBackoff): Promise<void> {
  await db.write(async (tx) => {
    await tx.run(
      `INSERT INTO federation_outbound_backoff (destination, failures, retry_at, probe_at) VALUES (?, ?, ?, ?)
     ON CONFLICT (destination) DO UPDATE SET failures = excluded.failures, retry_at = excluded.retry_at, probe_at = excluded.probe_at`,
      [destination, backoff.failures, backoff.retryAt, backoff.probeAt ?? null],
    );
  });
}

export async function clearBackoff(db: Database, destination: string): Promise<void> {
  await db.write(async (tx) => {
    await tx.run("DELETE FROM federation_outbound_backoff WHERE destination = ?", [destination]);
  });
}
