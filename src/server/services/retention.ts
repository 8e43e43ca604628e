// The server keeps what it learnt only as long as the protocol needs it (docs/privacy.md). A
// periodic job, timed by the injected clock (so tests move it with clock_offset_file), deletes:
// undelivered to-device messages past their age (Welcomes later: until the key package they used
// has expired), transaction IDs of clients and of other servers once no retry can come, and
// device list changes no sync token should still reach back to.
//
// Rows stored by versions that had no timestamp column (created_ts = 0) get the time of the first
// run that sees them, and age from then.
import type { ServerContext } from "../context.js";
import type { WriteTransaction } from "../storage/database.js";
import { pruneEventTxns } from "../rooms/roomStore.js";
import { pruneDeviceListChanges } from "../keys/deviceLists.js";

export interface Pruned {
  readonly toDeviceMessages: number;
  readonly toDeviceTxns: number;
  readonly toDeviceFederationIds: number;
  readonly federationInboundTxns: number;
  readonly eventTxns: number;
  readonly deviceListChanges: number;
}

async function deleteOlder(tx: WriteTransaction, sql: string, cutoff: number): Promise<number> {
  return (await tx.run(sql, [cutoff])).changes;
}

/** One pass of the job, in one write. */
export async function pruneOnce(ctx: ServerContext): Promise<Pruned> {
  const now = ctx.clock.now();
  const r = ctx.config.retention;
  return ctx.db.write(async (tx) => {
    await tx.run("UPDATE to_device_messages SET created_ts = ? WHERE created_ts = 0", [now]);
    const messages =
      (await deleteOlder(
        tx,
        "DELETE FROM to_device_messages WHERE welcome = 0 AND created_ts < ?",
        now - r.toDeviceMaxAgeMs,
      )) +
      (await deleteOlder(
        tx,
        "DELETE FROM to_device_messages WHERE welcome = 1 AND created_ts < ?",
        now - r.welcomeMaxAgeMs,
      ));
    const txnCutoff = now - r.txnMaxAgeMs;
    return {
      toDeviceMessages: messages,
      toDeviceTxns: await deleteOlder(tx, "DELETE FROM to_device_txns WHERE created_ts < ?", txnCutoff),
      toDeviceFederationIds: await deleteOlder(
        tx,
        "DELETE FROM to_device_federation_ids WHERE received_ts < ?",
        txnCutoff,
      ),
      federationInboundTxns: await deleteOlder(
        tx,
        "DELETE FROM federation_inbound_txns WHERE received_ts < ?",
        txnCutoff,
      ),
      eventTxns: await pruneEventTxns(tx, now, txnCutoff),
      deviceListChanges: await pruneDeviceListChanges(tx, now, now - r.deviceListChangesMaxAgeMs),
    };
  });
}

/** Runs pruneOnce now and every retention.prune_interval_ms until stopped. */
export function startPruning(ctx: ServerContext): { close(): Promise<void> } {
  let running: Promise<void> | undefined;
  let closed = false;
  const run = () => {
    if (running !== undefined || closed) return;
    running = pruneOnce(ctx)
      .then((pruned) => {
        if (Object.values(pruned).some((count) => count > 0)) ctx.log.info({ pruned }, "pruned old rows");
      })
      .catch((error: unknown) => ctx.log.error({ err: error }, "pruning failed"))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(run, ctx.config.retention.pruneIntervalMs);
  timer.unref();
  run();
  return {
    close: async () => {
      closed = true;
      clearInterval(timer);
      await running;
    },
  };
}
