// `PUT /_matrix/federation/v1/send/{txnId}`: the shell of inbound transactions. It checks the
// body (origin as signed, at most 50 PDUs and 100 EDUs), processes an origin's transactions one
// at a time in arrival order, hands the PDUs to the registered PDU handler (the rooms code) and
// each EDU to the handler of its type (unknown types are ignored), and answers a repeated
// transaction ID with the stored answer instead of processing it again.
//
// Only the latest transaction of each origin is remembered: the spec makes a sender wait for a
// 200 before it sends a transaction with another ID, so only the latest can come again, and the
// table stays one row per peer however long the server runs. (A duplicate older than that is
// processed again, harmlessly: PDUs are deduplicated by event ID, to-device EDUs by message ID.)
import type { FastifyBaseLogger, FastifyRequest } from "fastify";
import type { Clock } from "../../clock.js";
import { badJson, forbidden } from "../../errors.js";
import type { Database } from "../../storage/database.js";
import type { Edu, FederationRouter } from "../../federationTypes.js";
import { isJsonObject } from "../../json.js";

/** Matrix limits per transaction (server-server API, Transactions), both ways. */
export const MAX_PDUS = 50;
export const MAX_EDUS = 100;
const MAX_TXN_ID_LENGTH = 255;

/** Checks and stores PDUs of a transaction; answers per event ID, `{error}` for a refused one. */
export type PduHandler = (
  origin: string,
  pdus: readonly unknown[],
) => Promise<Record<string, { error?: string }>>;
export type EduHandler = (origin: string, edu: Edu) => Promise<void>;

export interface TransactionHandlers {
  /** The one PDU handler; registering a second throws. */
  registerPduHandler(handler: PduHandler): void;
  /** The handler of one EDU type; registering a type twice throws. */
  registerEduHandler(eduType: string, handler: EduHandler): void;
}

export interface TransactionResponse {
  readonly pdus: Record<string, { error?: string }>;
}

export interface InboundTransactions extends TransactionHandlers {
  /** Registers the /send route. */
  routes(router: FederationRouter): void;
}

export function createInboundTransactions(deps: {
  readonly db: Database;
  readonly clock: Clock;
  readonly log: FastifyBaseLogger;
}): InboundTransactions {
  let pduHandler: PduHandler | undefined;
  const eduHandlers = new Map<string, EduHandler>();
  // Per origin: the tail of its chain of transactions, so they run one after another.
  const chains = new Map<string, Promise<unknown>>();
  const running = new Map<string, Promise<TransactionResponse>>();

  const handleTransaction = async (
    origin: string,
    txnId: string,
    body: TransactionBody,
  ): Promise<TransactionResponse> => {
    const stored = await deps.db.get<{ response: string }>(
      "SELECT response FROM federation_inbound_txns WHERE origin = ? AND txn_id = ?",
      [origin, txnId],
    );
    if (stored !== undefined) return JSON.parse(stored.response) as TransactionResponse;
    const pdus = body.pdus.length > 0 && pduHandler !== undefined ? await pduHandler(origin, body.pdus) : {};
    for (const edu of body.edus) {
      const handler = eduHandlers.get(edu.edu_type);
      if (handler === undefined) continue;
      try {
        await handler(origin, edu);
      } catch (error) {
        deps.log.warn({ origin, txnId, eduType: edu.edu_type, err: error }, "an inbound EDU failed");
      }
    }
    const response: TransactionResponse = { pdus };
    await deps.db.write(async (tx) => {
      await tx.run(
        `INSERT INTO federation_inbound_txns (origin, txn_id, response, received_ts) VALUES (?, ?, ?, ?)
         ON CONFLICT (origin) DO UPDATE SET txn_id = excluded.txn_id, response = excluded.response,
           received_ts = excluded.received_ts`,
        [origin, txnId, JSON.stringify(response), deps.clock.now()],
      );
    });
    return response;
  };

  const enqueue = (origin: string, txnId: string, body: TransactionBody): Promise<TransactionResponse> => {
    const key = `${origin}\n${txnId}`;
    const same = running.get(key);
    if (same !== undefined) return same; // a retry while the first attempt is still being processed
    const previous = chains.get(origin) ?? Promise.resolve();
    const result = previous.then(() => handleTransaction(origin, txnId, body));
    const tail = result.catch(() => undefined);
    running.set(key, result);
    chains.set(origin, tail);
    void tail.then(() => {
      running.delete(key);
      if (chains.get(origin) === tail) chains.delete(origin);
    });
    return result;
  };

  return {
    registerPduHandler: (handler) => {
      if (pduHandler !== undefined) throw new Error("a PDU handler is already registered");
      pduHandler = handler;
    },
    registerEduHandler: (eduType, handler) => {
      if (eduHandlers.has(eduType)) throw new Error(`an EDU handler for ${eduType} is already registered`);
      eduHandlers.set(eduType, handler);
    },
    routes: (router) => {
      router("PUT", "/_matrix/federation/v1/send/:txnId", async (request: FastifyRequest, origin) => {
        const { txnId } = request.params as { txnId: string };
        if (txnId.length > MAX_TXN_ID_LENGTH)
          throw badJson(`Transaction ID is longer than ${MAX_TXN_ID_LENGTH}`);
        return enqueue(origin, txnId, transactionBody(request.body, origin));
      });
    },
  };
}

interface TransactionBody {
  readonly pdus: readonly unknown[];
  readonly edus: readonly Edu[];
}

/** The transaction's shape (server-server API, Transaction): 400 or 403 when it is wrong. */
export function transactionBody(body: unknown, origin: string): TransactionBody {
  if (!isJsonObject(body)) throw badJson("Transaction must be a JSON object");
  if (body.origin !== origin) {
    throw forbidden(`Transaction origin ${JSON.stringify(body.origin)} is not the signing server ${origin}`);
  }
  if (typeof body.origin_server_ts !== "number" || !Number.isSafeInteger(body.origin_server_ts)) {
    throw badJson("Transaction origin_server_ts must be an integer");
  }
  if (!Array.isArray(body.pdus)) throw badJson("Transaction pdus must be an array");
  if (body.pdus.length > MAX_PDUS) throw badJson(`Transaction has more than ${MAX_PDUS} PDUs`);
  const edus = body.edus ?? [];
  if (!Array.isArray(edus)) throw badJson("Transaction edus must be an array");
  if (edus.length > MAX_EDUS) throw badJson(`Transaction has more than ${MAX_EDUS} EDUs`);
  for (const edu of edus) {
    if (!isJsonObject(edu) || typeof edu.edu_type !== "string" || !isJsonObject(edu.content)) {
      throw badJson("Every EDU must have a string edu_type and an object content");
    }
  }
  return { pdus: body.pdus as unknown[], edus: edus as Edu[] };
}
