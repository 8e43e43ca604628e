// Our commits (section 6): made against the group as it is, sent as the commit state event when
// our server is powers[0] and as a pending commit otherwise, adopted only once they come back
// accepted. When another commit takes the epoch, the intent is planned again on the new group
// (an invite is retried, a stale self-update is not) and the app is told what happened.
import { pendingCommitGiveUpTime } from "../../protocol/commitSchedule.js";
import { EPOCH_MISMATCH_ERRCODE } from "../../protocol/names.js";
import { groupEpoch } from "../mls/engine.js";
import { MatrixApiError, segment, type MatrixHttp } from "../http/matrixHttp.js";
import type { ClientData } from "../clientData.js";
import type { ClientEvent, CommitIntent } from "../events.js";
import { MyelinError } from "../errors.js";
import type { SerialQueue } from "../serialQueue.js";
import { decodeEventId } from "../wire/replies.js";
import type { CommitPlanner } from "./commitPlan.js";
import type { CommitSettlement } from "./roomReducer.js";
import type { RoomRecord } from "./roomRecord.js";
import { dropOwnCommit, stageOwnCommit, type CommitRequest } from "./ownCommit.js";

/** D12: the epoch moved on before our commit or message reached the server. */
export function isEpochMismatch(error: unknown): boolean {
  return error instanceof MatrixApiError && error.status === 409 && error.errcode === EPOCH_MISMATCH_ERRCODE;
}

export interface RoomCommitsDeps {
  readonly data: ClientData;
  readonly http: MatrixHttp;
  readonly queue: SerialQueue;
  readonly serverName: string;
  readonly emit: (event: ClientEvent) => void;
  readonly newId: () => string;
  /** Milliseconds since the epoch: the driver's clock. */
  readonly now: () => number;
  /** Resolves after one more complete sync pass has been processed. */
  readonly nextSync: () => Promise<void>;
  /** The record with the federation object of the room's current commit, fetched when we have none. */
  readonly ensureFederation: (room: RoomRecord) => Promise<RoomRecord>;
}

const MAX_ATTEMPTS = 8;

type Sent =
  | { kind: "sent"; id: string; powers: readonly string[] }
  | { kind: "dropped" }
  | { kind: "raced" }
  /** Another commit of ours is in flight in the room: one at a time (each builds on the last). */
  | { kind: "busy" };

export class RoomCommits {
  private readonly settled = new Map<string, CommitSettlement>();

  constructor(private readonly deps: RoomCommitsDeps) {}

  settle(id: string, outcome: CommitSettlement): void {
    this.settled.set(id, outcome);
  }

  /**
   * Runs the intent until a commit carrying it is accepted, or it is dropped because it no longer
   * makes sense. `retry` says whether a lost race plans again (false: report it dropped).
   */
  async run(
    roomId: string,
    intent: CommitIntent,
    planner: CommitPlanner,
    retry = true,
  ): Promise<"accepted" | "dropped"> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const sent = await this.deps.queue.run(roomId, () => this.makeAndSend(roomId, intent, planner));
      if (sent.kind === "busy") {
        attempt--; // waiting for our own commit is no lost race
        await this.deps.nextSync();
        continue;
      }
      if (sent.kind === "dropped") {
        this.report(roomId, intent, "dropped", "nothing left to do");
        return "dropped";
      }
      const outcome = sent.kind === "raced" ? "lost" : await this.outcome(roomId, sent.id, sent.powers);
      if (outcome === "accepted") {
        this.report(roomId, intent, "accepted");
        return "accepted";
      }
      if (!retry) {
        this.report(roomId, intent, "dropped", "another commit took the epoch");
        return "dropped";
      }
      this.report(roomId, intent, "retrying", "another commit took the epoch");
      if (sent.kind === "raced") await this.deps.nextSync();
    }
    throw new MyelinError("COMMIT_FAILED", `gave up after ${MAX_ATTEMPTS} lost commit races in ${roomId}`);
  }

  private report(
    roomId: string,
    intent: CommitIntent,
    outcome: "accepted" | "retrying" | "dropped",
    detail?: string,
  ) {
    const group = this.deps.data.groups.get(roomId);
    this.deps.emit({
      kind: "commit",
      roomId,
      intent,
      outcome,
      epoch: group ? Number(groupEpoch(group)) : 0,
      ...(detail ? { detail } : {}),
    });
  }

  private async makeAndSend(roomId: string, intent: CommitIntent, planner: CommitPlanner): Promise<Sent> {
    const { data } = this.deps;
    const known = data.room(roomId);
    if (!known?.group || known.record.removed) {
      throw new MyelinError("NOT_IN_ROOM", `this device is not in the MLS group of ${roomId}`);
    }
    if (known.record.pending) return { kind: "busy" };
    const record = await this.deps.ensureFederation(known.record);
    const room = { ...known, record };
    const plan = await planner(record, known.group);
    if (!plan) return { kind: "dropped" };
    const id = this.deps.newId();
    const staged = await stageOwnCommit(room, { intent, plan, id, serverName: this.deps.serverName });
    // Written before it is sent: a restart with the commit in flight can still adopt it.
    await data.saveRoomStep(known, staged.room, []);
    try {
      await this.send(staged.request);
    } catch (error) {
      const current = data.room(roomId)!;
      await data.saveRoomStep(current, dropOwnCommit(current), []);
      if (isEpochMismatch(error)) return { kind: "raced" };
      throw error;
    }
    return { kind: "sent", id, powers: plan.federation.federation.powers };
  }

  private async send(request: CommitRequest): Promise<void> {
    const base = `/rooms/${segment(request.roomId)}`;
    const path =
      request.route.kind === "state"
        ? `${base}/state/${segment(request.route.eventType)}/`
        : `${base}/send/${segment(request.route.eventType)}/${segment(request.route.txnId)}`;
    await this.deps.http.request("PUT", path, decodeEventId, { body: request.body });
  }

  /** Section 6: a pending commit has failed when nothing came back within len(powers) slots. */
  private async outcome(roomId: string, id: string, powers: readonly string[]): Promise<CommitSettlement> {
    const deadline = pendingCommitGiveUpTime(powers, this.deps.now());
    while (!this.settled.has(id)) {
      if (this.deps.now() > deadline) {
        await this.deps.queue.run(roomId, async () => {
          const room = this.deps.data.rooms.get(roomId);
          if (room?.pending?.id !== id) return;
          await this.deps.data.saveRoom({ ...room, pending: undefined }, { pending: null });
        });
        return "lost";
      }
      await this.deps.nextSync();
    }
    const outcome = this.settled.get(id) as CommitSettlement;
    this.settled.delete(id);
    return outcome;
  }
}
