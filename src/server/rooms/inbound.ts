// PDUs from other servers (issue 5, part 3; D10): every PDU is checked (shape, the origin's
// signature, content hash, R1-R12 against its auth events) before anything of it is stored.
// Unknown auth events are fetched as an auth chain (/event_auth), unknown prev_events with
// /get_missing_events; a commit that does not extend the current one goes through state
// resolution (section 5). A refused PDU is logged with its rule and nothing of it is kept.
import { parseCiphertext, type AuthEvent } from "../../protocol/auth/authEvent.js";
import type { Rejection } from "../../protocol/auth/rejection.js";
import { authorizeAgainstState } from "../../protocol/auth/rules.js";
import {
  CREATE_EVENT_TYPE,
  eventKind,
  namesForRoomVersion,
  type MlsEventKind,
} from "../../protocol/names.js";
import { computeEventId } from "../../protocol/pdu/hashes.js";
import { checkIncomingPdu } from "../../protocol/receive.js";
import { isJsonObject } from "../json.js";
import type { WriteTransaction } from "../storage/database.js";
import { currentCommitAfter, parentCommitId } from "./currentCommit.js";
import type { RoomPeers, RoomsContext } from "./ports.js";
import { loadAuthEvent, loadRoom, rememberAuthEvent } from "./roomState.js";
import {
  extremities,
  getEvent,
  getRoom,
  insertEvent,
  insertPendingCommit,
  insertRoom,
  joinedLocalUsers,
  setCurrentCommit,
} from "./roomStore.js";

/** How deep fetching missing events may recurse for one incoming PDU. */
const MAX_FETCH_DEPTH = 3;
/** prev_events fetched per gap (Matrix servers use 10). */
const MISSING_EVENTS_LIMIT = 10;
const AUTH_CHAIN_LIMIT = 10_000;

export type PduOutcome = { readonly eventId?: string; readonly error?: string };

/** Events accepted while one transaction is checked, by event ID, in order; stored together. */
type Batch = Map<string, AuthEvent>;

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function epochOf(raw: Record<string, unknown>): bigint {
  const parsed = isJsonObject(raw.content) ? parseCiphertext(raw.content) : undefined;
  return parsed?.ok ? parsed.value.epoch : -1n;
}

export class RoomInbound {
  constructor(
    private readonly ctx: RoomsContext,
    private readonly peers: RoomPeers,
    /** Called after a pending commit was stored: a power server may apply it (section 6). */
    private readonly pendingStored: () => void,
  ) {}

  /**
   * The /send PDU handler: each PDU checked (in order, later ones may build on earlier ones), then
   * every accepted one stored in one write, or refused with the reason.
   */
  async receivePdus(origin: string, pdus: readonly unknown[]): Promise<Record<string, { error?: string }>> {
    const results: Record<string, { error?: string }> = {};
    const batch: Batch = new Map();
    for (const raw of pdus) {
      const outcome = await this.receive(origin, raw, 0, batch);
      if (outcome.eventId !== undefined)
        results[outcome.eventId] = outcome.error ? { error: outcome.error } : {};
    }
    await this.storeAll(batch);
    return results;
  }

  /** Checks and stores one PDU on its own (a room learnt for an invite). */
  async receiveOne(from: string, raw: unknown): Promise<PduOutcome> {
    const batch: Batch = new Map();
    const outcome = await this.receive(from, raw, 0, batch);
    await this.storeAll(batch);
    return outcome;
  }

  /** An event stored, or accepted in this batch and about to be. */
  private async known(id: string, batch: Batch): Promise<AuthEvent | undefined> {
    return batch.get(id) ?? (await loadAuthEvent(this.ctx.db, id));
  }

  /** Checks one PDU that `from` sent or served us; accepted ones join `batch` (with what they needed). */
  private async receive(from: string, raw: unknown, depth: number, batch: Batch): Promise<PduOutcome> {
    if (!isJsonObject(raw) || typeof raw.room_id !== "string")
      return this.refuse(from, undefined, "shape", "not a PDU");
    let eventId: string;
    try {
      eventId = computeEventId(raw, this.ctx.crypto);
    } catch {
      return this.refuse(from, undefined, "shape", "not a PDU");
    }
    if (await this.known(eventId, batch)) return { eventId };
    // Auth events we lack are fetched and checked in memory; they are stored only if this event
    // passes too, so nobody can make us keep a room we do not take part in.
    const chain = new Map<string, AuthEvent>();
    const authIds = strings(raw.auth_events);
    if (depth < MAX_FETCH_DEPTH && (await this.anyUnknown(authIds, batch))) {
      await this.fetchAuthChain(from, raw.room_id, eventId, chain, batch);
    }
    const { checked, authEvents } = await this.check(raw, chain, batch);
    if (!checked.ok) return this.refuse(from, eventId, checked.rejection.rule, checked.rejection.message);
    const event = checked.event;
    const participation = this.participates(event, [...authEvents.values()]);
    if (participation !== undefined) return this.refuse(from, eventId, "section 7", participation);
    for (const link of chain.values()) batch.set(link.eventId, link);
    // Before the commit that added this server nothing was ours: no gap to fill then.
    const addsUs = ![...authEvents.values()].some((e) =>
      e.federation?.federation.servers.includes(this.ctx.config.serverName),
    );
    if (event.pdu.type !== CREATE_EVENT_TYPE && depth < MAX_FETCH_DEPTH && !addsUs) {
      await this.fetchMissingPrevEvents(from, event, depth, batch);
    }
    const before = await this.checkAgainstStateBefore(event, batch);
    if (before) return this.refuse(from, eventId, before.rule, before.message);
    batch.set(eventId, event);
    return { eventId };
  }

  /** D10 checks of one PDU against auth events from the store or from `chain`. */
  private async check(raw: Record<string, unknown>, chain: ReadonlyMap<string, AuthEvent>, batch: Batch) {
    const authEvents = new Map<string, AuthEvent>();
    for (const id of strings(raw.auth_events)) {
      const event = chain.get(id) ?? (await this.known(id, batch));
      if (event) authEvents.set(id, event);
    }
    const keys = await this.originKeys(raw);
    const checked = checkIncomingPdu(raw, {
      crypto: this.ctx.crypto,
      keys: (server, keyId) => keys.get(`${server}\u0000${keyId}`),
      authEvents: (id) => authEvents.get(id),
    });
    return { checked, authEvents };
  }

  /**
   * D10, second step, for messages and pending commits: the rules against the state before the
   * event, the latest commit its known prev_events stand on. An older epoch is no reason to
   * refuse (late messages are normal), anything else is: a server a commit removed cannot go on
   * posting by citing an older commit that still listed it. (A commit's place is settled by state
   * resolution instead.)
   */
  private async checkAgainstStateBefore(event: AuthEvent, batch: Batch): Promise<Rejection | undefined> {
    const room = await loadRoom(this.ctx.db, event.pdu.room_id);
    if (!room) return undefined;
    const kind = eventKind(room.names, event.pdu.type);
    if (kind !== "encrypted" && kind !== "pending") return undefined;
    let latest: AuthEvent | undefined;
    for (const prevId of event.pdu.prev_events) {
      const prev = await this.known(prevId, batch);
      if (!prev || prev.pdu.type === CREATE_EVENT_TYPE) continue;
      const commitId =
        eventKind(room.names, prev.pdu.type) === "commit"
          ? prev.eventId
          : parentCommitId(prev, room.row.create_event_id);
      const commit = commitId === undefined ? undefined : await this.known(commitId, batch);
      const epoch = commit?.framing?.epoch;
      if (epoch !== undefined && (latest?.framing === undefined || epoch > latest.framing.epoch))
        latest = commit;
    }
    if (!latest) return undefined;
    const outcome = authorizeAgainstState(event.pdu, { create: room.state.create, commit: latest });
    return !outcome.ok && outcome.rejection.kind !== "epoch" ? outcome.rejection : undefined;
  }

  /** `message` says what is wrong without the rule, which the answer puts in front once. */
  private refuse(from: string, eventId: string | undefined, rule: string, message: string): PduOutcome {
    this.ctx.log.warn({ origin: from, eventId, rule }, `refused PDU: ${message}`);
    return { ...(eventId !== undefined ? { eventId } : {}), error: `${rule}: ${message}` };
  }

  private async anyUnknown(ids: readonly string[], batch: Batch): Promise<boolean> {
    for (const id of ids) if (!(await this.known(id, batch))) return true;
    return false;
  }

  /** The origin's keys each signature names, fetched (and cached) before the synchronous check. */
  private async originKeys(raw: Record<string, unknown>): Promise<Map<string, Uint8Array>> {
    const keys = new Map<string, Uint8Array>();
    const origin = raw.origin;
    const signatures = isJsonObject(raw.signatures) ? raw.signatures : {};
    const ts = typeof raw.origin_server_ts === "number" ? raw.origin_server_ts : this.ctx.clock.now();
    if (typeof origin !== "string" || !isJsonObject(signatures[origin])) return keys;
    for (const keyId of Object.keys(signatures[origin])) {
      try {
        const key = await this.peers.verifyKey(origin, keyId, ts);
        if (key) keys.set(`${origin}\u0000${keyId}`, key);
      } catch (error) {
        this.ctx.log.warn({ origin, keyId, err: error }, "could not fetch a signing key");
      }
    }
    return keys;
  }

  /**
   * Section 7: a server stores only rooms it takes part in: this server must be in the `servers`
   * of the event's commit (for a commit: of itself or of the commit it replaces, so that a
   * server a commit removes learns of it).
   */
  private participates(event: AuthEvent, authEvents: readonly AuthEvent[]): string | undefined {
    if (event.pdu.type === CREATE_EVENT_TYPE) return undefined;
    const self = this.ctx.config.serverName;
    const names = namesForRoomVersion(
      String(authEvents.find((e) => e.pdu.type === CREATE_EVENT_TYPE)?.pdu.content.room_version),
    );
    const commits = authEvents.filter((e) => e.pdu.type !== CREATE_EVENT_TYPE);
    if (names && eventKind(names, event.pdu.type) === "commit") commits.push(event);
    if (commits.some((commit) => commit.federation?.federation.servers.includes(self))) return undefined;
    return `${self} is not in the room's servers`;
  }

  /** Auth chain of an event whose auth events we lack, checked in order into `chain`. */
  private async fetchAuthChain(
    from: string,
    roomId: string,
    eventId: string,
    chain: Map<string, AuthEvent>,
    batch: Batch,
  ): Promise<void> {
    let events: unknown[];
    try {
      events = (await this.peers.fetchAuthChain(from, roomId, eventId)).slice(0, AUTH_CHAIN_LIMIT);
    } catch (error) {
      this.logFetchFailure(from, "event_auth", error);
      return;
    }
    // Create event first, then commits by epoch: each one's auth events come before it.
    const ordered = events.filter(isJsonObject).sort((a, b) => {
      if (a.type === CREATE_EVENT_TYPE) return -1;
      if (b.type === CREATE_EVENT_TYPE) return 1;
      const [ea, eb] = [epochOf(a), epochOf(b)];
      return ea < eb ? -1 : ea > eb ? 1 : 0;
    });
    for (const raw of ordered) {
      if (raw.room_id !== roomId) continue;
      const { checked } = await this.check(raw, chain, batch);
      if (!checked.ok) {
        this.refuse(
          from,
          undefined,
          checked.rejection.rule,
          `in an auth chain: ${checked.rejection.message}`,
        );
        continue;
      }
      if (!(await this.known(checked.event.eventId, batch))) chain.set(checked.event.eventId, checked.event);
    }
  }

  /** Section 3 / Matrix: a gap before the event is filled from the sender, oldest first. */
  private async fetchMissingPrevEvents(
    from: string,
    event: AuthEvent,
    depth: number,
    batch: Batch,
  ): Promise<void> {
    const missing: string[] = [];
    for (const id of event.pdu.prev_events) if (!(await this.known(id, batch))) missing.push(id);
    if (missing.length === 0) return;
    let events: unknown[];
    try {
      events = await this.peers.fetchMissingEvents(from, event.pdu.room_id, {
        earliestEvents: await extremities(this.ctx.db, event.pdu.room_id, 20),
        latestEvents: [event.eventId],
        limit: MISSING_EVENTS_LIMIT,
      });
    } catch (error) {
      this.logFetchFailure(from, "get_missing_events", error);
      return;
    }
    // The gap stays if the sender cannot fill it: the event's state is its auth events (section 5).
    for (const missingEvent of events) await this.receive(from, missingEvent, depth + 1, batch);
  }

  private logFetchFailure(from: string, what: string, error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    this.ctx.log.warn({ origin: from }, `${what} failed: ${detail}`);
  }

  /** Stores the accepted events in one write, in the order they were accepted. */
  private async storeAll(batch: Batch): Promise<void> {
    if (batch.size === 0) return;
    const stored = await this.ctx.db.write(async (tx) => {
      const done: { event: AuthEvent; kind: MlsEventKind }[] = [];
      for (const event of batch.values()) {
        const kind = await this.storeOne(tx, event);
        if (kind) done.push({ event, kind });
      }
      return done;
    });
    const rooms = new Set<string>();
    for (const { event, kind } of stored) {
      rememberAuthEvent(event);
      if (kind !== "create") rooms.add(event.pdu.room_id);
    }
    for (const roomId of rooms) this.ctx.notifier.wake(await joinedLocalUsers(this.ctx.db, roomId));
    if (stored.some(({ kind }) => kind === "pending")) this.pendingStored();
  }

  /** Stores one accepted event; returns its kind, or undefined when there was nothing to store. */
  private async storeOne(tx: WriteTransaction, event: AuthEvent): Promise<MlsEventKind | undefined> {
    const { pdu, eventId } = event;
    if (await getEvent(tx, eventId)) return undefined;
    if (pdu.type === CREATE_EVENT_TYPE) {
      if (await getRoom(tx, pdu.room_id)) return undefined; // one create event per room
      await insertEvent(tx, eventId, pdu);
      await insertRoom(
        tx,
        {
          room_id: pdu.room_id,
          room_version: String(pdu.content.room_version),
          create_event_id: eventId,
          current_commit_id: null,
        },
        pdu.origin_server_ts,
      );
      return "create";
    }
    const room = await loadRoom(tx, pdu.room_id);
    if (!room) return undefined;
    const position = await insertEvent(tx, eventId, pdu);
    const kind = eventKind(room.names, pdu.type);
    if (kind === "commit") await this.updateCurrentCommit(tx, room.row, room.names.commitType, event);
    if (kind === "pending" && event.framing) {
      await insertPendingCommit(tx, pdu.room_id, eventId, event.framing.epoch, position);
    }
    return kind;
  }

  private async updateCurrentCommit(
    tx: WriteTransaction,
    row: { room_id: string; create_event_id: string; current_commit_id: string | null },
    commitType: string,
    event: AuthEvent,
  ): Promise<void> {
    const current = await currentCommitAfter(
      tx,
      {
        roomId: row.room_id,
        createEventId: row.create_event_id,
        commitType,
        currentCommitId: row.current_commit_id,
      },
      event,
    );
    if (current !== row.current_commit_id) await setCurrentCommit(tx, row.room_id, current);
  }
}
