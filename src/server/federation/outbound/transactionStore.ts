// The outbound queue's storage: queued items in order per destination, the transaction in
// flight (its items tagged with its ID), and the PDUs read from the rooms' `events` table.
import type { Database, Queryable, SqlValue } from "../../storage/database.js";
import { MAX_EDUS, MAX_PDUS } from "../transport/inboundTransactions.js";
import type { Edu } from "../../federationTypes.js";

export interface OutboundTransaction {
  readonly txnId: string;
  /** PDUs in queue order, as stored in `events` (items whose event is gone are left out). */
  readonly pdus: readonly unknown[];
  readonly edus: readonly Edu[];
  /** Consecutive 4xx refusals of this transaction so far. */
  readonly rejections: number;
  /** Event IDs queued whose PDU was not found. */
  readonly missing: readonly string[];
}

interface ItemRow {
  seq: number | string;
  event_id: string | null;
  edu: string | null;
}

/** Adds an item after every item queued for `destination` (the caller's write serialises this). */
export async function insertItem(
  tx: Queryable,
  destination: string,
  item: { eventId: string } | { edu: Edu },
): Promise<void> {
  const last = await tx.get<{ seq: number | string | null }>(
    "SELECT MAX(seq) AS seq FROM federation_outbound_items WHERE destination = ?",
    [destination],
  );
  const seq = Number(last?.seq ?? 0) + 1;
  await tx.run(
    "INSERT INTO federation_outbound_items (destination, seq, event_id, edu, txn_id) VALUES (?, ?, ?, ?, NULL)",
    [
      destination,
      seq,
      "eventId" in item ? item.eventId : null,
      "edu" in item ? JSON.stringify(item.edu) : null,
    ],
  );
}

export async function destinationsWithItems(db: Queryable): Promise<string[]> {
  const rows = await db.all<{ destination: string }>(
    "SELECT DISTINCT destination FROM federation_outbound_items",
  );
  return rows.map((row) => row.destination);
}

/**
 * The transaction to send to `destination` now: the one in flight if there is one (the same ID
 * and items, so the peer can recognise a repeat), else a new one made of the oldest items, at
 * most 50 PDUs and 100 EDUs, in queue order. Undefined when nothing is queued. `delivered`, the
 * transaction the peer just answered 200, leaves the queue in the same write that cuts the next
 * one (one write per transaction, not two).
 */
export async function nextTransaction(
  db: Database,
  destination: string,
  now: number,
  delivered?: string,
): Promise<OutboundTransaction | undefined> {
  const state =
    delivered === undefined
      ? await db.get<{ txn_id: string | null; rejections: number }>(
          "SELECT txn_id, rejections FROM federation_outbound_destinations WHERE destination = ?",
          [destination],
        )
      : undefined;
  if (state?.txn_id != null) {
    const items = await db.all<ItemRow>(
      "SELECT seq, event_id, edu FROM federation_outbound_items WHERE destination = ? AND txn_id = ? ORDER BY seq",
      [destination, state.txn_id],
    );
    if (items.length > 0) return withPdus(db, state.txn_id, items, Number(state.rejections));
    await finishTransaction(db, destination, state.txn_id);
  }
  // New transactions are cut inside a write job: it runs after every write already under way,
  // so an item whose enqueuing write is committing is seen here and never left behind by a
  // sender that found the queue empty and stopped (see OutboundQueue.wake()).
  const made = await db.write(async (tx) => {
    if (delivered !== undefined) await finishIn(tx, destination, delivered);
    const candidates = await tx.all<ItemRow>(
      "SELECT seq, event_id, edu FROM federation_outbound_items WHERE destination = ? AND txn_id IS NULL ORDER BY seq LIMIT ?",
      [destination, MAX_PDUS + MAX_EDUS],
    );
    const items = batch(candidates);
    if (items.length === 0) return undefined;
    const lastSeq = Number((items[items.length - 1] as ItemRow).seq);
    let row = await tx.get<{ txn_prefix: string; next_txn: number | string }>(
      "SELECT txn_prefix, next_txn FROM federation_outbound_destinations WHERE destination = ?",
      [destination],
    );
    if (row === undefined) {
      row = { txn_prefix: String(now), next_txn: 1 };
      await tx.run(
        "INSERT INTO federation_outbound_destinations (destination, txn_prefix, next_txn, txn_id, rejections) VALUES (?, ?, 1, NULL, 0)",
        [destination, row.txn_prefix],
      );
    }
    const txnId = `${row.txn_prefix}.${Number(row.next_txn)}`;
    await tx.run(
      "UPDATE federation_outbound_destinations SET next_txn = next_txn + 1, txn_id = ?, rejections = 0 WHERE destination = ?",
      [txnId, destination],
    );
    await tx.run(
      "UPDATE federation_outbound_items SET txn_id = ? WHERE destination = ? AND txn_id IS NULL AND seq <= ?",
      [txnId, destination, lastSeq],
    );
    return { txnId, items };
  });
  if (made === undefined) return undefined;
  return withPdus(db, made.txnId, made.items, 0);
}

/** The longest prefix of `rows` within the limits: order is kept, nothing is skipped. */
function batch(rows: readonly ItemRow[]): ItemRow[] {
  let pdus = 0;
  let edus = 0;
  const taken: ItemRow[] = [];
  for (const row of rows) {
    if (row.event_id !== null) pdus += 1;
    else edus += 1;
    if (pdus > MAX_PDUS || edus > MAX_EDUS) break;
    taken.push(row);
  }
  return taken;
}

async function withPdus(
  db: Queryable,
  txnId: string,
  items: readonly ItemRow[],
  rejections: number,
): Promise<OutboundTransaction> {
  const eventIds = items.flatMap((item) => (item.event_id !== null ? [item.event_id] : []));
  const stored = new Map<string, string>();
  if (eventIds.length > 0) {
    // The rooms code keeps every PDU in `events(event_id, ..., pdu TEXT)`.
    const rows = await db.all<{ event_id: string; pdu: string }>(
      `SELECT event_id, pdu FROM events WHERE event_id IN (${eventIds.map(() => "?").join(", ")})`,
      eventIds as SqlValue[],
    );
    for (const row of rows) stored.set(row.event_id, row.pdu);
  }
  const pdus: unknown[] = [];
  const edus: Edu[] = [];
  const missing: string[] = [];
  for (const item of items) {
    if (item.event_id !== null) {
      const pdu = stored.get(item.event_id);
      if (pdu === undefined) missing.push(item.event_id);
      else pdus.push(JSON.parse(pdu));
    } else if (item.edu !== null) {
      edus.push(JSON.parse(item.edu) as Edu);
    }
  }
  return { txnId, pdus, edus, rejections, missing };
}

/** After a 200 (or when giving up on a refused transaction): its items leave the queue. */
export async function finishTransaction(db: Database, destination: string, txnId: string): Promise<void> {
  await db.write((tx) => finishIn(tx, destination, txnId));
}

async function finishIn(tx: Queryable, destination: string, txnId: string): Promise<void> {
  await tx.run("DELETE FROM federation_outbound_items WHERE destination = ? AND txn_id = ?", [
    destination,
    txnId,
  ]);
  await tx.run(
    "UPDATE federation_outbound_destinations SET txn_id = NULL, rejections = 0 WHERE destination = ? AND txn_id = ?",
    [destination, txnId],
  );
}

export async function recordRejection(db: Database, destination: string, rejections: number): Promise<void> {
  await db.write(async (tx) => {
    await tx.run("UPDATE federation_outbound_destinations SET rejections = ? WHERE destination = ?", [
      rejections,
      destination,
    ]);
  });
}
