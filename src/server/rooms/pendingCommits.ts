// Section 6: a power server applies pending commits. Each pending commit for the epoch after the
// current commit is recorded as it arrives; the server at rank i of `powers` applies the first
// valid one it received during its window [t + 5i min, t + 5i min + 3 min) (powers[0]: at once),
// by sending a commit event with the identical content, its own origin and the current commit in
// its auth events. The schedule is the protocol layer's pure function of the injected clock.
import { mayApply, nextApplyTime } from "../../protocol/commitSchedule.js";
import { authorizeEvent } from "../../protocol/auth/rules.js";
import { signPdu } from "../../protocol/pdu/signing.js";
import { MAX_PREV_EVENTS, type UnsignedPdu } from "../../protocol/pdu/types.js";
import type { AuthEvent } from "../../protocol/auth/authEvent.js";
import type { Queryable, WriteTransaction } from "../storage/database.js";
import { eventDestinations } from "./destinations.js";
import type { RoomPeers, RoomsContext } from "./ports.js";
import { loadAuthEvent, loadRoom, rememberAuthEvent, type LoadedRoom } from "./roomState.js";
import {
  deletePendingCommit,
  deletePendingCommits,
  deletePendingCommitsBefore,
  deletePendingCommitsUpTo,
  extremities,
  hasPendingCommitBefore,
  insertEvent,
  joinedLocalUsers,
  pendingCommitsFor,
  roomsWithPendingCommits,
  setCurrentCommit,
} from "./roomStore.js";

/** What a pass does in one room: decided by reads, carried out in one write. */
interface Plan {
  readonly room: LoadedRoom;
  readonly current: AuthEvent;
  /** The epoch after the current commit's. */
  readonly next: number;
  readonly dropStale: boolean;
  readonly dropAll: boolean;
  readonly dropEvent?: string;
  readonly apply?: { readonly candidate: AuthEvent; readonly now: number };
}

function isIdle(plan: Plan | undefined): boolean {
  return !plan || (!plan.dropStale && !plan.dropAll && !plan.dropEvent && !plan.apply);
}

/** How often the scheduler looks at rooms with pending commits, at most. */
const TICK_MS = 1_000;

export class PendingCommitScheduler {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly ctx: RoomsContext,
    private readonly peers: RoomPeers,
  ) {}

  /** Starts the periodic pass (windows open with time, not with arrivals). */
  start(): void {
    this.schedule(0);
  }

  /** A pending commit was stored: look at the rooms now (powers[0] applies at once). */
  poke(): void {
    this.schedule(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delay: number): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.pass()
        .catch((error: unknown) => this.ctx.log.error({ err: error }, "pending commit pass failed"))
        .finally(() => {
          this.running = undefined;
          this.schedule(TICK_MS);
        });
    }, delay);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    for (const roomId of await roomsWithPendingCommits(this.ctx.db)) await this.considerRoom(roomId);
  }

  /**
   * Applies the room's first valid pending commit for the next epoch if our window is open. The
   * decision is read first: most passes find a window not yet open and write nothing.
   */
  private async considerRoom(roomId: string): Promise<void> {
    if (isIdle(await this.plan(this.ctx.db, roomId))) return;
    // Decided again inside the write: the room may have moved on since.
    const applied = await this.ctx.db.write(async (tx) => this.carryOut(tx, await this.plan(tx, roomId)));
    if (applied) {
      this.ctx.log.info({ roomId, eventId: applied }, "applied a pending commit");
      this.peers.wake();
      this.ctx.notifier.wake(await joinedLocalUsers(this.ctx.db, roomId));
    }
  }

  private async plan(q: Queryable, roomId: string): Promise<Plan | undefined> {
    const self = this.ctx.config.serverName;
    const room = await loadRoom(q, roomId);
    const current = room?.state.commit;
    if (!room || !current?.framing || !current.federation) return undefined;
    const next = Number(current.framing.epoch) + 1;
    const powers = current.federation.federation.powers;
    const base = { room, current, next, dropStale: await hasPendingCommitBefore(q, roomId, next) };
    // Not a power (any more): this server never applies the room's pending commits.
    if (!powers.includes(self)) return { ...base, dropAll: true };
    const candidate = await this.firstValid(q, roomId, next, current.eventId);
    if (!candidate) return { ...base, dropAll: false };
    const now = this.ctx.clock.now();
    const pendingTs = candidate.pdu.origin_server_ts;
    if (mayApply({ powers, pendingTs, now, pendingBuildsOnCurrentCommit: true, server: self })) {
      return { ...base, dropAll: false, apply: { candidate, now } };
    }
    // Our window has passed: a server after us may still apply it; we never will.
    const over = nextApplyTime(powers, self, pendingTs, now) === undefined;
    return { ...base, dropAll: false, ...(over ? { dropEvent: candidate.eventId } : {}) };
  }

  private async carryOut(tx: WriteTransaction, plan: Plan | undefined): Promise<string | undefined> {
    if (!plan) return undefined;
    const { room, current, next } = plan;
    const roomId = room.row.room_id;
    // Pending commits for epochs already decided can never apply.
    if (plan.dropStale) await deletePendingCommitsBefore(tx, roomId, next);
    if (plan.dropAll) await deletePendingCommits(tx, roomId);
    if (plan.dropEvent) await deletePendingCommit(tx, plan.dropEvent);
    if (!plan.apply) return undefined;
    const { candidate, now } = plan.apply;
    const self = this.ctx.config.serverName;
    const unsigned: UnsignedPdu = {
      room_id: roomId,
      type: room.names.commitType,
      state_key: "",
      origin: self,
      origin_server_ts: now,
      content: candidate.pdu.content,
      prev_events: await extremities(tx, roomId, MAX_PREV_EVENTS),
      auth_events: [room.row.create_event_id, current.eventId],
    };
    const { pdu, eventId } = signPdu(unsigned, this.ctx.signingKey, this.ctx.crypto);
    const known = new Map([room.state.create, current].map((e) => [e.eventId, e] as const));
    const outcome = authorizeEvent(pdu, (id) => known.get(id));
    await deletePendingCommitsUpTo(tx, roomId, next);
    if (!outcome.ok) {
      this.ctx.log.warn(
        { roomId, pending: candidate.eventId, rule: outcome.rejection.rule },
        "pending commit not applicable",
      );
      return undefined;
    }
    await insertEvent(tx, eventId, pdu);
    await setCurrentCommit(tx, roomId, eventId);
    await this.peers.enqueuePdu(tx, eventDestinations(self, current.federation, outcome.federation), eventId);
    rememberAuthEvent({ eventId, pdu, framing: outcome.framing, federation: outcome.federation });
    return eventId;
  }

  /** The first pending commit received for `epoch` that builds on the current commit. */
  private async firstValid(q: Queryable, roomId: string, epoch: number, currentId: string) {
    for (const eventId of await pendingCommitsFor(q, roomId, epoch)) {
      const event = await loadAuthEvent(q, eventId);
      if (event?.pdu.auth_events.includes(currentId)) return event;
    }
    return undefined;
  }
}
